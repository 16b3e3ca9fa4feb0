"""Training data: read an OpenASQA-format file, check every item before any training, and cache what the frozen
models compute (Whisper transcripts; LTU-AS's Whisper features or LTU's fbank) on disk, so a second epoch or a
second run reads them back.

An item is `{"audio_id": path, "instruction": ..., "input": ... (optional), "output": ...}`; a relative
`audio_id` is relative to the data file. Items that fail a check are left out and named in the report.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..audio.io import SAMPLE_RATE, Audio, AudioError, load_audio
from ..engine.types import EngineError, Transcript

IGNORE = -100  # label of a position that is not scored (prompt, audio, padding)


@dataclass
class Item:
    index: int
    audio_id: str
    instruction: str
    output: str
    input: str | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Problem:
    index: int
    audio_id: str
    kind: str  # bad-entry | missing-audio | unreadable-audio | empty-answer | duplicate | cut | resampled
    # | input-ignored (LTU reads no input; kept)
    message: str
    left_out: bool = True

    def describe(self) -> str:
        what = "left out" if self.left_out else "kept"
        return f"item {self.index} ({self.audio_id or '?'}): {self.kind}: {self.message} [{what}]"


@dataclass
class Example:
    """One checked item, ready to batch: cached features of its window and its token ids."""

    item: Item
    features: Path
    ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass
class Report:
    total: int
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def left_out(self) -> list[Problem]:
        return [p for p in self.problems if p.left_out]

    def summary(self) -> str:
        kinds = Counter(p.kind for p in self.problems)
        lines = [f"{len(self.examples)} of {self.total} item(s) pass"
                 + (f"; {len(self.left_out)} left out" if self.left_out else "")]
        lines += [f"  {n} x {k}" for k, n in sorted(kinds.items())]
        lines += [f"  {p.describe()}" for p in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"items": self.total, "used": len(self.examples),
                "problems": [{"index": p.index, "audio_id": p.audio_id, "kind": p.kind, "message": p.message,
                              "left_out": p.left_out} for p in self.problems]}


def read_items(path: Path) -> tuple[list[Item], list[Problem]]:
    """A JSON list (or JSON lines) of items; entries that are not items become problems, not exceptions."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EngineError(f"The data file {path} cannot be read: {exc}") from exc
    try:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        raw = [json.loads(ln) for ln in lines] if path.suffix == ".jsonl" else json.loads(text)
    except ValueError as exc:
        raise EngineError(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise EngineError(f"{path.name} must hold a list of items ({{audio_id, instruction, input?, output}}).")
    items, problems = [], []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            problems.append(Problem(i, "", "bad-entry", f"not an object but {type(entry).__name__}"))
            continue
        audio_id = entry.get("audio_id")
        wrong = [k for k in ("audio_id", "instruction", "output") if not isinstance(entry.get(k), str)]
        if entry.get("input") is not None and not isinstance(entry["input"], str):
            wrong.append("input")
        if wrong:
            problems.append(Problem(i, str(audio_id or ""), "bad-entry", f"{', '.join(wrong)} missing or not text"))
            continue
        if not entry["instruction"].strip():
            problems.append(Problem(i, audio_id, "bad-entry", "the instruction is empty"))
            continue
        if not entry["output"].strip():
            problems.append(Problem(i, audio_id, "empty-answer", "the output (answer) is empty"))
            continue
        audio = Path(audio_id).expanduser()
        items.append(Item(i, audio_id, entry["instruction"], entry["output"], entry.get("input"),
                          audio if audio.is_absolute() else path.parent / audio))
    return items, problems


def file_key(path: Path | None) -> str:
    """Names a model file for the caches without hashing gigabytes: its path, size and modification time."""
    if path is None:
        return "none"
    st = Path(path).stat()
    return hashlib.sha256(f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]


class DiskCache:
    """Training inputs as .pt files and transcripts as JSON: a folder per `features_key` (the family and the
    model that computed them) or ASR model, a file per clip content hash (and window start for features)."""

    def __init__(self, root: Path, features_key: str, asr_model: Path | None):
        self.features_dir = Path(root) / "features" / features_key
        self.transcripts_dir = Path(root) / "transcripts" / file_key(asr_model)

    def feature_path(self, audio: Audio, start: float) -> Path:
        return self.features_dir / f"{audio.content_hash[:32]}-{start:.2f}.pt"

    def features(self, audio: Audio, start: float, compute) -> Path:
        path = self.feature_path(audio, start)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(compute(audio, start).detach().cpu().contiguous(), tmp)
            tmp.replace(path)
        return path

    def transcript(self, audio: Audio, compute) -> str:
        path = self.transcripts_dir / f"{audio.content_hash[:32]}.json"
        if path.exists():
            return json.loads(path.read_text())["text"]
        result: Transcript = compute(audio)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"text": result.text, "language": result.language}))
        tmp.replace(path)
        return result.text


def tokenize(tokenizer, prompt_ids: list[int], prompt: str, output: str,
             cutoff: int) -> tuple[list[int], list[int], int]:
    """Prompt ids (as the engine builds them) + answer ids + EOS, cut to `cutoff` text tokens as the authors cut.

    The answer is tokenized as it follows the prompt, so its first piece is what the model will generate
    after "### Response:\\n". Returns ids, labels (prompt positions ignored) and answer tokens lost to the cut.
    """
    whole = tokenizer.encode(prompt + output)
    if whole[:len(prompt_ids)] == prompt_ids:
        answer = whole[len(prompt_ids):]
    else:
        answer = tokenizer.encode(output)[1:]
    answer = answer + sorted(tokenizer.eos_ids)[:1]
    ids = (prompt_ids + answer)[:cutoff]
    labels = ([IGNORE] * len(prompt_ids) + answer)[:cutoff]
    return ids, labels, len(prompt_ids) + len(answer) - len(ids)


def prepare(data: Path, family, tokenizer, features, transcribe, cache: DiskCache, cutoff: int,
            progress=None, cancel=None) -> Report:
    """Check every item, then compute (or read back) its transcript and training input; nothing trains yet.

    `features(audio, start)` and `transcribe(audio)` are the frozen models (`transcribe` may be None when
    every item has an input or the family reads no transcript, and is never called then).
    """
    items, problems = read_items(data)
    report = Report(len(items) + len(problems), problems=problems)
    seen: dict[tuple, int] = {}
    for n, item in enumerate(items):
        if cancel is not None and cancel.is_set():
            break
        if progress is not None:
            progress(f"Preparing item {n + 1} of {len(items)}", n / max(1, len(items)))
        if not item.path.is_file():
            report.problems.append(Problem(item.index, item.audio_id, "missing-audio", f"no such file: {item.path}"))
            continue
        try:
            import soundfile as sf

            rate = sf.info(str(item.path)).samplerate
            audio = load_audio(item.path)
        except (AudioError, RuntimeError) as exc:
            report.problems.append(Problem(item.index, item.audio_id, "unreadable-audio", str(exc)))
            continue
        if rate != SAMPLE_RATE:
            report.problems.append(Problem(item.index, item.audio_id, "resampled",
                                           f"{rate} Hz, resampled to {SAMPLE_RATE} Hz", left_out=False))
        key = (audio.content_hash, item.instruction, item.input if family.reads_transcript else None, item.output)
        if key in seen:
            report.problems.append(Problem(item.index, item.audio_id, "duplicate",
                                           f"same audio, instruction and answer as item {seen[key]}"))
            continue
        seen[key] = item.index
        if item.input and not family.reads_transcript:
            report.problems.append(Problem(item.index, item.audio_id, "input-ignored",
                                           f"{family.label} reads no input text; it trains on the question alone",
                                           left_out=False))
        text_input = item.input
        if text_input is None:
            text_input = cache.transcript(audio, transcribe) if family.reads_transcript and transcribe else ""
        prompt_ids, _, prompt = family.prompt(tokenizer, item.instruction, text_input)
        ids, labels, lost = tokenize(tokenizer, prompt_ids, prompt, item.output, cutoff)
        kept = sum(1 for x in labels if x != IGNORE)
        if lost:
            report.problems.append(Problem(
                item.index, item.audio_id, "cut",
                f"{lost} answer token(s) past the {cutoff}-token limit" + ("" if kept else "; no answer token is left"),
                left_out=not kept))
        if not kept:
            continue
        report.examples.append(Example(item, cache.features(audio, 0.0, features), ids, labels))
    if progress is not None:
        progress("Data ready", 1.0)
    return report
