"""`ltu-desktop batch`: OpenASQA-format questions in, predictions out, written as each item finishes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

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


# Answers the (index, item) pairs it is given, yielding (index, result row) in any order.
Answerer = Callable[[list[tuple[int, dict]]], Iterator[tuple[int, dict]]]


def _source(item: dict, base: Path, features: Path | None) -> tuple[Path, bool]:
    """The file an item names, and whether it is a Whisper feature file (`.npz`) rather than audio: an
    `audio_id` ending in .npz, or `<stem>.npz` in the `features` folder, named as the authors' feature downloads."""
    path = Path(item["audio_id"])
    path = path if path.is_absolute() else base / path
    if path.suffix.lower() == ".npz":
        return path, True
    if features is not None:
        return Path(features) / (path.stem + ".npz"), True
    return path, False


def _load_features(path: Path):
    import numpy as np

    if not path.is_file():
        raise EngineError(f"{path}: no such feature file")
    try:
        with np.load(path) as data:
            return data["arr_0"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise EngineError(f"{path} is not a feature file with `arr_0` ({exc})") from exc


def run_item(engine, item: dict, base: Path, settings: GenerationSettings, window_start: float = 0.0,
             features: Path | None = None, cache: dict | None = None) -> dict:
    """One item's result row; a failure a person can act on becomes the row's `error`. `cache` keeps each
    loaded file (or its error) across items, so a file asked about many times is read once."""
    cache = {} if cache is None else cache
    row = {"audio_id": item.get("audio_id"), "instruction": item.get("instruction")}
    try:
        if not item.get("audio_id") or not isinstance(item.get("instruction"), str):
            raise EngineError("the item needs `audio_id` and `instruction`")
        path, is_features = _source(item, base, features)
        if path not in cache:
            try:
                cache[path] = _load_features(path) if is_features else load_audio(path)
            except (AudioError, EngineError) as exc:
                cache[path] = exc
        loaded = cache[path]
        if isinstance(loaded, Exception):
            raise loaded
        given = _given_input(item)
        transcript = Transcript(given) if given is not None else None
        if is_features:
            if given is None and settings is not None and settings.mode != "audio":
                raise EngineError("a feature file has no audio to transcribe: "
                                  "give the item an `input` (its transcript)")
            clip = engine.prepare_features(loaded, transcript=transcript, source=str(path))
        else:
            window = (window_start, window_start + engine.window_seconds)
            clip = engine.prepare(loaded, window, transcript=transcript)
        for _ in engine.answer(clip, item["instruction"], transcript=given, settings=settings):
            pass
        answer = engine.last_answer
        row |= {"input": answer.transcript_used, "pred": answer.text, "pred_ids": answer.token_ids,
                "stats": answer.stats.to_dict()}
    except (AudioError, EngineError, RuntimeError, ValueError) as exc:
        row["error"] = str(exc)
    if "output" in item:
        row["ref"] = item["output"]
    return row


def run_items(items: list[dict], output_path: Path, answer: Answerer, resume: bool = False, quiet: bool = False) -> int:
    """Rows keep the input's order whatever order `answer` finishes them in; the file is rewritten as each
    finishes, so a killed run resumes where it stopped and a finished item is never asked again."""
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
    _write_atomic(output_path, rows)
    todo = [(i, it) for i, it in enumerate(items) if i not in done]
    failures = 0
    with tqdm(total=len(todo), unit="item", file=sys.stderr, disable=quiet, dynamic_ncols=True) as bar:
        for i, row in answer(todo):
            rows[i] = row
            _write_atomic(output_path, rows)
            if "error" in row:
                failures += 1
                bar.write(f"[{i + 1}/{len(items)}] {row['audio_id']}: error: {row['error']}")
            bar.update(1)
    if not quiet:
        print(f"{len(items) - failures} of {len(items)} answered ({len(done)} resumed); results in {output_path}",
              file=sys.stderr)
    return 0 if failures == 0 else 3


def run_batch(engine, input_path: Path, output_path: Path, settings: GenerationSettings, resume: bool = False,
              window_start: float = 0.0, quiet: bool = False, features: Path | None = None,
              answer: Answerer | None = None) -> int:
    """Items keep their order; a failed item gets `error` and the rest still run. `answer` replaces the
    in-process loop over `engine` (the Ray runner passes one that spreads items over a cluster)."""
    items = read_items(input_path)
    if answer is None:
        answer = local_answer(engine, Path(input_path).resolve().parent, settings, window_start, features)
    return run_items(items, output_path, answer, resume, quiet)


def local_answer(engine, base: Path, settings: GenerationSettings, window_start: float = 0.0,
                 features: Path | None = None) -> Answerer:
    """Items answered one after another in this process."""
    cache: dict = {}
    return lambda todo: ((i, run_item(engine, it, base, settings, window_start, features, cache)) for i, it in todo)
