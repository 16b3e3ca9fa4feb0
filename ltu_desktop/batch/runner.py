"""`ltu-desktop batch`: OpenASQA-format questions in, predictions out, written as each item finishes."""

from __future__ import annotations

import glob
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from ..audio.io import Audio, AudioError, load_audio
from ..engine.lru import LRU, nbytes
from ..engine.types import EngineError, GenerationSettings, Transcript

CACHE_BYTES = 64 << 20  # decoded clips (or feature files) kept for items that ask about the same file again


class BatchError(EngineError):
    """A batch that cannot start (its input or output is unusable); nothing was written."""


def new_cache() -> LRU:
    """Loaded files by path, bounded by their size: a batch over thousands of distinct clips keeps only the
    most recent ones, and memory stays flat."""
    return LRU(CACHE_BYTES, lambda v: v.samples.nbytes if isinstance(v, Audio) else nbytes(v))


def _given_input(item: dict) -> str | None:
    """A present `input` is the transcript as given (null, like "", means none, as the authors' batch script
    reads it); only an absent one is left to Whisper."""
    if "input" not in item:
        return None
    return item["input"] or ""


def _write_atomic(path: Path, rows: list[dict]) -> None:
    """Write beside `path` and rename over it: a kill leaves the old file or the new one, never half of one.
    The file is created with the person's umask, like any file they write."""
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(rows, f, indent=1, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_paths(input_path: Path | None, output_path: Path) -> None:
    """Refuse an output that would overwrite the input or cannot be written, before any model loads; remove
    temporaries a killed run left beside the output."""
    output_path = Path(output_path)
    if input_path is not None and (output_path.resolve() == Path(input_path).resolve() or (
            output_path.exists() and os.path.samefile(output_path, input_path))):
        raise BatchError(f"--output {output_path} is the input file: the input would be overwritten. "
                         f"Choose another output file.")
    if output_path.is_dir():
        raise BatchError(f"--output {output_path} is a folder; give a file name, e.g. "
                         f"{output_path / 'results.json'}.")
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        probe = output_path.with_name(f"{output_path.name}.{uuid.uuid4().hex[:8]}.tmp")
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        probe.unlink()
    except OSError as exc:
        raise BatchError(f"--output {output_path} cannot be written: {exc.strerror or exc}.") from None
    for stale in glob.glob(glob.escape(str(output_path)) + ".*.tmp"):
        Path(stale).unlink(missing_ok=True)


def item_problem(item: object) -> str | None:
    """Why an item cannot be answered, or None. Checked for every item before the model loads."""
    if not isinstance(item, dict):
        return f"the item is a {type(item).__name__}, not an object with audio_id and instruction"
    audio_id, instruction = item.get("audio_id"), item.get("instruction")
    if not isinstance(audio_id, str) or not audio_id.strip():
        return f"`audio_id` must be a file name (text), not {json.dumps(audio_id)}"
    if not isinstance(instruction, str) or not instruction.strip():
        return f"`instruction` must be a question (text), not {json.dumps(instruction)}"
    if item.get("input") is not None and not isinstance(item["input"], str):
        return f"`input` must be the transcript (text) or null, not {json.dumps(item['input'])}"
    return None


def _row(item: object) -> dict:
    """The item's identity as given (whatever its types), so a row can always be matched to its item."""
    return {"audio_id": item.get("audio_id"), "instruction": item.get("instruction")} if isinstance(item, dict) \
        else {"audio_id": None, "instruction": None}


def _item_key(item: dict) -> tuple:
    return (str(item.get("audio_id")), item.get("instruction"), item.get("input"))


def read_items(path: Path) -> list[dict]:
    try:
        items = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise BatchError(f"{path} is not a readable JSON file: {exc}") from None
    if not isinstance(items, list):
        raise BatchError(f"{path} must hold a JSON list of objects with audio_id and instruction.")
    return items


def prepare(input_path: Path, output_path: Path) -> list[dict]:
    """Everything that can fail without a model, done first: the input is read, the output checked."""
    items = read_items(input_path)
    if not items:
        raise BatchError(f"{input_path} holds no items.")
    check_paths(input_path, output_path)
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
             features: Path | None = None, cache: LRU | None = None) -> dict:
    """One item's result row; a failure a person can act on becomes the row's `error`. `cache` (`new_cache()`)
    keeps recently loaded files (or their errors) across items, so a file asked about many times is read once."""
    cache = new_cache() if cache is None else cache
    row = _row(item)
    try:
        problem = item_problem(item)
        if problem:
            raise BatchError(problem)
        path, is_features = _source(item, base, features)
        loaded = cache.get(path)
        if loaded is None:
            try:
                loaded = _load_features(path) if is_features else load_audio(path)
            except (AudioError, EngineError) as exc:
                loaded = exc
            cache.put(path, loaded)
        if isinstance(loaded, Exception):
            raise loaded
        if isinstance(loaded, Audio) and loaded.warning:
            row["warning"] = loaded.warning
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
    except (AudioError, EngineError, RuntimeError, ValueError, OSError) as exc:
        row["error"] = str(exc)
    if isinstance(item, dict) and "output" in item:
        row["ref"] = item["output"]
    return row


def run_items(items: list[dict], output_path: Path, answer: Answerer, resume: bool = False, quiet: bool = False) -> int:
    """Rows keep the input's order whatever order `answer` finishes them in; the file is rewritten as each
    finishes, so a killed run resumes where it stopped and a finished item is never asked again."""
    output_path = Path(output_path)
    check_paths(None, output_path)
    done: dict[int, dict] = {}
    if resume and output_path.exists():
        previous = read_items(output_path)
        for i, row in enumerate(previous):
            if i < len(items) and isinstance(row, dict) and "pred" in row and "error" not in row \
                    and item_problem(items[i]) is None and _item_key(row) == (
                    str(items[i].get("audio_id")), items[i].get("instruction"),
                    _given_input(items[i]) if "input" in items[i] else row.get("input")):
                done[i] = row
    rows: list[dict] = [done.get(i) or _row(it) | {"pending": True} for i, it in enumerate(items)]
    _write_atomic(output_path, rows)
    todo = [(i, it) for i, it in enumerate(items) if i not in done]
    failures = 0
    with tqdm(total=len(todo), unit="item", file=sys.stderr, disable=quiet, dynamic_ncols=True) as bar:
        for i, row in answer(todo):
            rows[i] = row
            _write_atomic(output_path, rows)
            if "error" in row:
                failures += 1
                bar.write(f"[{i + 1}/{len(items)}] {row.get('audio_id')}: error: {row['error']}")
            bar.update(1)
    if not quiet:
        print(f"{len(items) - failures} of {len(items)} answered ({len(done)} resumed); results in {output_path}",
              file=sys.stderr)
    return 0 if failures == 0 else 3


def run_batch(engine, input_path: Path, output_path: Path, settings: GenerationSettings, resume: bool = False,
              window_start: float = 0.0, quiet: bool = False, features: Path | None = None,
              answer: Answerer | None = None) -> int:
    """Items keep their order; a failed or malformed item gets `error` and the rest still run. `answer` replaces
    the in-process loop over `engine` (the Ray runner passes one that spreads items over a cluster)."""
    items = prepare(input_path, output_path)
    if answer is None:
        answer = local_answer(engine, Path(input_path).resolve().parent, settings, window_start, features)
    return run_items(items, output_path, answer, resume, quiet)


def local_answer(engine, base: Path, settings: GenerationSettings, window_start: float = 0.0,
                 features: Path | None = None) -> Answerer:
    """Items answered one after another in this process."""
    cache = new_cache()
    return lambda todo: ((i, run_item(engine, it, base, settings, window_start, features, cache)) for i, it in todo)
