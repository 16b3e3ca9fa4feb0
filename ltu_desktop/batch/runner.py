"""`ltu-desktop batch`: OpenASQA-format questions in, predictions out, written as each item finishes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from ..audio.io import Audio, AudioError, load_audio
from ..engine.types import EngineError, GenerationSettings, Transcript


def _given_input(item: dict) -> str | None:
    """A present `input` is the transcript as given (null, like "", means none, as the authors' batch script
    reads it); only an absent one is left to Whisper."""
    if "input" not in item:
        return None
    return item["input"] or ""


def _write_atomic(path: Path, rows: list[dict]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(rows, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def _item_key(item: dict) -> tuple:
    return (str(item.get("audio_id")), item.get("instruction"), item.get("input"))


def read_items(path: Path) -> list[dict]:
    try:
        items = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise EngineError(f"{path} is not a readable JSON file: {exc}") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise EngineError(f"{path} must hold a JSON list of objects with audio_id and instruction.")
    return items


def run_batch(engine, input_path: Path, output_path: Path, settings: GenerationSettings, resume: bool = False,
              window_start: float = 0.0, quiet: bool = False) -> int:
    """Items keep their order; a failed item gets `error` and the rest still run."""
    items = read_items(input_path)
    base = Path(input_path).resolve().parent
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[int, dict] = {}
    if resume and output_path.exists():
        previous = read_items(output_path)
        for i, row in enumerate(previous):
            if i < len(items) and "pred" in row and "error" not in row and _item_key(row) == (
                    str(items[i].get("audio_id")), items[i].get("instruction"),
                    _given_input(items[i]) if "input" in items[i] else row.get("input")):
                done[i] = row
    rows: list[dict] = [done.get(i) or {"audio_id": it.get("audio_id"), "instruction": it.get("instruction"),
                                         "pending": True} for i, it in enumerate(items)]
    audio_cache: dict[Path, Audio | AudioError] = {}
    failures = 0
    _write_atomic(output_path, rows)
    for i, item in enumerate(items):
        if i in done:
            continue
        row = {"audio_id": item.get("audio_id"), "instruction": item.get("instruction")}
        try:
            if not item.get("audio_id") or not isinstance(item.get("instruction"), str):
                raise EngineError("the item needs `audio_id` and `instruction`")
            path = Path(item["audio_id"])
            path = path if path.is_absolute() else base / path
            if path not in audio_cache:
                try:
                    audio_cache[path] = load_audio(path)
                except AudioError as exc:
                    audio_cache[path] = exc
            audio = audio_cache[path]
            if isinstance(audio, AudioError):
                raise audio
            given = _given_input(item)
            clip = engine.prepare(audio, (window_start, window_start + engine.window_seconds),
                                  transcript=Transcript(given) if given is not None else None)
            for _ in engine.answer(clip, item["instruction"], transcript=given, settings=settings):
                pass
            answer = engine.last_answer
            row |= {"input": answer.transcript_used, "pred": answer.text, "pred_ids": answer.token_ids,
                    "stats": answer.stats.to_dict()}
        except (AudioError, EngineError, RuntimeError, ValueError) as exc:
            failures += 1
            row["error"] = str(exc)
        if "output" in item:
            row["ref"] = item["output"]
        rows[i] = row
        _write_atomic(output_path, rows)
        if not quiet:
            status = "error: " + row["error"] if "error" in row else row["pred"][:70].replace("\n", " ")
            print(f"[{i + 1}/{len(items)}] {row['audio_id']}: {status}", file=sys.stderr)
    if not quiet:
        print(f"{len(items) - failures} of {len(items)} answered ({len(done)} resumed); results in {output_path}",
              file=sys.stderr)
    return 0 if failures == 0 else 3
