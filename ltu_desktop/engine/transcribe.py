"""Whisper ASR of the whole clip -> timed segments, cached by the clip's content hash."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from ..audio.io import Audio
from .checkpoints import read_whisper
from .lru import LRU
from .precision import to_dtype
from .types import CheckpointError, Segment, Transcript

# The authors strip exactly these Whisper hallucinations (three casings, optional "." or "!") and
# nothing else: the prompt's Input must be the same text theirs gets.
_THANKS = re.compile(r"(?:thanks for watching|Thanks for watching|THANKS FOR WATCHING|thank you for watching"
                     r"|Thank you for watching|THANK YOU FOR WATCHING)[.!]?")
NO_SPEECH_PROB = 0.5
MAX_COMPRESSION = 2.4  # above this a segment is a repetition loop, not speech


def strip_hallucinations(text: str) -> str:
    return _THANKS.sub("", text)


def load_whisper(path: Path, device: torch.device):
    from whisper.model import ModelDimensions, Whisper

    ck = read_whisper(path, encoder_only=False)
    model = Whisper(ModelDimensions(**ck.dims))
    state = dict(ck.state)
    state.setdefault("encoder.positional_embedding", model.encoder.positional_embedding)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(path).name} does not fit openai-whisper: {str(exc)[:300]}") from exc
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    return to_dtype(model, dtype).to(device).eval()


class Transcriber:
    """One ASR model; the same clip is never transcribed twice.

    `path` is an openai-whisper checkpoint (the authors' transcripts, exactly) or a CTranslate2 Whisper folder
    (model.bin + tokenizer.json), run by faster-whisper with the same decoding options as openai-whisper's
    defaults: greedy at temperature 0, the same fallback temperatures and thresholds, text conditioned on the
    previous window. `compute_type` (CTranslate2 only): float32, or int8 for speed at some word error."""

    def __init__(self, path: Path, device: torch.device, cache_bytes: int = 16 << 20, compute_type: str = "float32"):
        path = Path(path)
        self.backend = "ctranslate2" if path.is_dir() else "openai-whisper"
        self.model = load_ct2(path, device, compute_type) if path.is_dir() else load_whisper(path, device)
        self.device = device
        self.cache: LRU[Transcript] = LRU(cache_bytes)

    def __call__(self, audio: Audio, on_segment: Callable[[Segment], None] | None = None) -> Transcript:
        """`on_segment` sees each segment as soon as it is recognized (CTranslate2 decodes window by window;
        openai-whisper hands over all segments at the end, and a cached transcript hands them over at once)."""
        key = audio.content_hash
        found = self.cache.get(key)
        if found is not None:
            for segment in found.segments if on_segment else ():
                on_segment(segment)
            return found
        run = self._run_ct2 if self.backend == "ctranslate2" else self._run
        return self.cache.put(key, run(audio, on_segment or (lambda _s: None)))

    def _run(self, audio: Audio, on_segment: Callable[[Segment], None]) -> Transcript:
        import whisper

        english_only = not self.model.is_multilingual
        out = whisper.transcribe(
            self.model, audio.samples, fp16=self.device.type == "cuda", verbose=None,
            language="en" if english_only else None,
        )
        return _transcript(out.get("segments", []), out.get("text", ""), out.get("language"), on_segment)

    def _run_ct2(self, audio: Audio, on_segment: Callable[[Segment], None]) -> Transcript:
        pieces, info = self.model.transcribe(
            audio.samples, language=None if self.model.model.is_multilingual else "en", beam_size=1, best_of=5,
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), condition_on_previous_text=True, vad_filter=False)
        raw = []
        for s in pieces:
            raw.append({"start": s.start, "end": s.end, "text": s.text, "no_speech_prob": s.no_speech_prob,
                        "compression_ratio": s.compression_ratio})
            text = strip_hallucinations(s.text).strip()
            if text:
                on_segment(Segment(float(s.start), float(s.end), text))
        return _transcript(raw, "".join(r["text"] for r in raw), info.language, lambda _s: None)


def load_ct2(folder: Path, device: torch.device, compute_type: str):
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise CheckpointError(f"{folder} is a CTranslate2 Whisper folder: pip install faster-whisper") from exc
    if not (folder / "model.bin").is_file() or not (folder / "tokenizer.json").is_file():
        raise CheckpointError(f"{folder} is not a CTranslate2 Whisper folder (it needs model.bin and tokenizer.json).")
    try:
        return WhisperModel(str(folder), device=device.type, compute_type=compute_type,
                            cpu_threads=torch.get_num_threads())
    except (RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{folder} could not be loaded by CTranslate2: {str(exc)[:300]}") from exc


def _transcript(raw: list[dict], text: str, language: str | None, on_segment: Callable[[Segment], None]) -> Transcript:
    segments, speech = [], False
    for s in raw:
        piece = strip_hallucinations(s["text"]).strip()
        if not piece:
            continue
        segments.append(Segment(float(s["start"]), float(s["end"]), piece))
        on_segment(segments[-1])
        speech |= s.get("no_speech_prob", 0.0) < NO_SPEECH_PROB and s.get("compression_ratio", 0.0) <= MAX_COMPRESSION
    # Left-stripped only, as the authors do: trailing whitespace is part of the prompt they built.
    text = strip_hallucinations(text.lstrip())
    return Transcript(text, tuple(segments), language, no_speech=not (speech and text.strip()))
