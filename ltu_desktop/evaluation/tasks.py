"""The closed-ended benchmarks of the LTU-AS and LTU papers: the authors' fixed questions, label sets, how a
free answer and a reference become something to score, and the numbers the papers report.

Prompts and text handling follow the authors' `inference_batch.py` and `eval/eval_*.py`; the label names are
their CSV files' (`labels/*.txt`, one a line). Their IEMOCAP label file is not in their repository: the four
classes of the usual IEMOCAP protocol are shipped, and `--labels` replaces any label set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

Metric = Literal["accuracy", "macro_f1", "mAP", "mae", "wer"]
Kind = Literal["labels", "gender", "age", "asr"]


@dataclass(frozen=True)
class Paper:
    """A number the paper reports for one model family, in the unit the report shows (% or years)."""

    metric: Metric
    value: float | None  # None: the paper's number could not be checked here, so none is shown
    source: str


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    kind: Kind
    prompt: str  # the authors' fixed instruction; the item's own `instruction` is not used
    metrics: tuple[Metric, ...]
    label_file: str | None = None
    label_prefix: str = ""  # what the authors put before a label and an answer before embedding both
    paper: dict[str, Paper] = field(default_factory=dict)  # by model family: "ltu-as", "ltu"

    def labels(self, override: Path | None = None) -> list[str]:
        if override is not None:
            return read_labels(Path(override))
        if self.label_file is None:
            return []
        text = resources.files(__package__).joinpath("labels").joinpath(self.label_file).read_text()
        return [ln.strip() for ln in text.splitlines() if ln.strip()]

    def answer_text(self, pred: str) -> str:
        """The part of a free answer that is mapped to a label (before the prefix and normalization)."""
        if self.name == "iemocap":
            return pred.lstrip()
        return pred.split(":")[-1].lstrip()

    def reference_label(self, ref: str) -> str:
        if self.name == "iemocap":
            return ref.split(":")[-1].split(".")[0].strip()
        return ref.split(":")[-1].strip()


_PAPER = "LTU-AS paper (Gong et al., ASRU 2023)"
_LTU_PAPER = "LTU paper (Gong et al., ICLR 2024)"

TASKS: dict[str, Task] = {t.name: t for t in (
    Task("esc50", "ESC-50 sound events", "labels", "Close-ended question: Write an audio caption describing the sound.",
         ("accuracy", "mAP"), "esc50.txt", "sound of ",
         {"ltu-as": Paper("accuracy", 76.6, _PAPER), "ltu": Paper("accuracy", None, _LTU_PAPER)}),
    Task("iemocap", "IEMOCAP emotion", "labels",
         "How would you describe the speaker's emotions? Give the emotion classification.",
         ("accuracy", "macro_f1"), "iemocap.txt", "",
         {"ltu-as": Paper("accuracy", 65.2, _PAPER)}),
    Task("voxceleb_gender", "VoxCeleb2 speaker gender", "gender",
         "Is the speaker male or female? Output an answer anyways.", ("macro_f1", "accuracy"),
         paper={"ltu-as": Paper("macro_f1", 90.8, _PAPER)}),
    Task("voxceleb_age", "VoxCeleb2 speaker age", "age", "How old is the speaker?", ("mae",),
         paper={"ltu-as": Paper("mae", 7.3, _PAPER)}),
    Task("gtzan", "GTZAN music genre", "labels", "Describe the music genre with a sentence?",
         ("accuracy", "mAP"), "gtzan.txt", "Music Genre: ",
         {"ltu-as": Paper("accuracy", None, _PAPER)}),
    Task("librispeech", "LibriSpeech test-clean ASR", "asr", "Closed-ended question: Can you identify the spoken text?",
         ("wer",), paper={"ltu-as": Paper("wer", 4.9, _PAPER)}),
)}


def read_labels(path: Path) -> list[str]:
    """One label a line, or the authors' CSV (`index,mid,display_name` with a header)."""
    from ..engine.types import EngineError

    try:
        lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise EngineError(f"Cannot read the label file {path}: {exc}") from exc
    if lines and lines[0].lower().replace(" ", "").startswith("index,"):
        import csv

        rows = list(csv.reader(lines))
        return [r[2].strip() for r in rows[1:] if len(r) >= 3]
    if not lines:
        raise EngineError(f"The label file {path} is empty.")
    return lines


def task_by_name(name: str) -> Task:
    from ..engine.types import EngineError

    key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    aliases = {"esc": "esc50", "esc_50": "esc50", "gender": "voxceleb_gender", "age": "voxceleb_age",
               "asr": "librispeech", "emotion": "iemocap"}
    key = aliases.get(key, key)
    if key not in TASKS:
        raise EngineError(f"Unknown task {name!r}; the tasks are: {', '.join(TASKS)}.")
    return TASKS[key]
