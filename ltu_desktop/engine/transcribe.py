"""Whisper ASR of the whole clip -> timed segments, cached by the clip's content hash."""

from __future__ import annotations

import re
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
    """One ASR model; the same clip is never transcribed twice."""

    def __init__(self, path: Path, device: torch.device, cache_bytes: int = 16 << 20):
        self.model = load_whisper(path, device)
        self.device = device
        self.cache: LRU[Transcript] = LRU(cache_bytes)

    def __call__(self, audio: Audio) -> Transcript:
        key = audio.content_hash
        found = self.cache.get(key)
        return found if found is not None else self.cache.put(key, self._run(audio))

    def _run(self, audio: Audio) -> Transcript:
        import whisper

        english_only = not self.model.is_multilingual
        out = whisper.transcribe(
            self.model, audio.samples, fp16=self.device.type == "cuda", verbose=None,
            language="en" if english_only else None,
        )
        segments, speech = [], False
        for s in out.get("segments", []):
            text = strip_hallucinations(s["text"]).strip()
            if not text:
                continue
            segments.append(Segment(float(s["start"]), float(s["end"]), text))
            speech |= s.get("no_speech_prob", 0.0) < NO_SPEECH_PROB and s.get("compression_ratio", 0.0) <= MAX_COMPRESSION
        # Left-stripped only, as the authors do: trailing whitespace is part of the prompt they built.
        text = strip_hallucinations(out.get("text", "").lstrip())
        return Transcript(text, tuple(segments), out.get("language"), no_speech=not (speech and text.strip()))
