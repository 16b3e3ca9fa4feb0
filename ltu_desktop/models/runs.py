"""Fine-tuning run folders as models to choose: their training cards, found again after a restart.

A run folder (train/save.py) holds adapter.bin and training.json; the card is read from training.json alone, so
listing many runs reads no weights. A folder that is gone or damaged, or whose base files are gone, is still
listed, with the reason it cannot be loaded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path


def runs_folder() -> Path:
    """Where the app's fine-tune dialog puts its runs (the data folder, with the history)."""
    from ..paths import data_dir

    return data_dir() / "runs"


@dataclass(frozen=True)
class RunCard:
    """What a person needs to pick a run: what it started from, on how much data, how long, how well."""

    path: Path
    problem: str = ""  # why it cannot be loaded ("" when it can)
    family: str = "ltu-as"
    status: str = ""  # finished | stopped | running (a run killed while running says so too)
    base: dict = field(default_factory=dict)  # the files it started from: llm, adapter, feature_whisper, asr_whisper
    examples: int = 0  # items that passed the checks and were trained or validated on
    items: int = 0  # items in the data file
    train: int = 0
    validation: int = 0
    epochs: int = 0
    step: int = 0
    total_steps: int = 0
    best_loss: float | None = None  # validation loss of the adapter kept (None: no validation set)
    best_step: int | None = None
    last_loss: float | None = None
    date: float = 0.0  # when the adapter was last written
    settings: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def available(self) -> bool:
        return not self.problem

    def label(self) -> str:
        """The selector's line for it."""
        if self.problem:
            return f"{self.name} (unavailable: {self.problem})"
        return f"{self.name} (fine-tuned on {self.examples} example{'s' if self.examples != 1 else ''})"

    def describe(self) -> str:
        """The training card, a few lines of plain text."""
        family = "LTU" if self.family == "ltu" else "LTU-AS"
        lines = [" · ".join((self.name, family, self.status)) if self.status else self.name]
        if self.problem:
            lines.append(f"Unavailable: {self.problem}.")
        if self.base:
            adapter, llm = Path(self.base.get("adapter") or "?").name, Path(self.base.get("llm") or "?").name
            lines.append(f"Base: {adapter} on {llm}")
        if self.items:
            lines.append(f"Data: {self.examples} of {self.items} item(s) used ({self.train} to train, "
                         f"{self.validation} to validate)")
        if self.total_steps:
            s = self.settings
            how = ", ".join(x for x in (
                f"batch {s['batch_size']}" if s.get("batch_size") else "",
                f"learning rate {s['learning_rate']:g}" if s.get("learning_rate") else "",
                " ".join(str(s[k]) for k in ("device", "precision") if s.get(k))) if x)
            lines.append(f"Training: {self.epochs} epoch(s), step {self.step} of {self.total_steps}"
                         + (f"; {how}" if how else ""))
        if self.best_loss is not None:
            lines.append(f"Best validation loss: {self.best_loss:.4f} (step {self.best_step}; this adapter)")
        elif self.step:
            last = f"; last training loss {self.last_loss:.4f}" if self.last_loss is not None else ""
            lines.append(f"No validation set: the adapter of step {self.best_step}{last}")
        if self.date:
            lines.append(f"Date: {time.strftime('%Y-%m-%d %H:%M', time.localtime(self.date))}")
        lines.append(f"Folder: {self.path}")
        return "\n".join(lines)


def read_run(path: str | Path) -> RunCard:
    """The run's card; never raises: what is wrong with it is the card's `problem`."""
    path = Path(path).expanduser()
    if not path.is_dir():
        return RunCard(path, "the folder is gone")
    try:
        card = json.loads((path / "training.json").read_text(encoding="utf-8"))
        if not isinstance(card, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return RunCard(path, "it has no training.json, so it is not a fine-tuning run")
    except (OSError, ValueError) as exc:
        return RunCard(path, f"its training.json cannot be read ({exc})")
    try:
        data, best, steps = card.get("data") or {}, card.get("best") or {}, card.get("steps") or []
        start = {k: v for k, v in (card.get("start") or {}).items() if v}
        adapter = path / "adapter.bin"
        run = RunCard(
            path, "", str(card.get("family", "ltu-as")), str(card.get("status", "")), start,
            int(data.get("used", 0)), int(data.get("items", 0)), int(data.get("train", 0)),
            int(data.get("validation", 0)), int((card.get("settings") or {}).get("epochs", 0)),
            int(card.get("step", 0)), int(card.get("total_steps", 0)),
            None if best.get("loss") is None else float(best["loss"]), best.get("step"),
            float(steps[-1]["loss"]) if steps else None,
            adapter.stat().st_mtime if adapter.is_file() else 0.0, dict(card.get("settings") or {}))
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return RunCard(path, f"its training.json is damaged ({exc})")
    problem = ""
    if not adapter.is_file():
        problem = "it has no adapter.bin: the run saved no checkpoint"
    elif "llm" not in start:
        problem = "its training.json does not say which base model it started from"
    else:
        gone = [k for k in ("llm", "feature_whisper", "asr_whisper") if k in start and not Path(start[k]).exists()]
        if gone:
            problem = f"its base file {start[gone[0]]} is gone"
    return replace(run, problem=problem) if problem else run


def find_runs(remembered: list[str] = (), folder: Path | None = None) -> list[RunCard]:
    """The runs in the app's runs folder and those remembered elsewhere, newest first; unavailable ones last."""
    folder = folder or runs_folder()
    paths = [p for p in sorted(folder.iterdir()) if (p / "training.json").is_file()] if folder.is_dir() else []
    seen, cards = set(), []
    for p in [*paths, *map(Path, remembered)]:
        key = p.expanduser().resolve()
        if key not in seen:
            seen.add(key)
            cards.append(read_run(p))
    return sorted(cards, key=lambda c: (not c.available, -c.date, c.name))
