"""The plain data that crosses the engine's boundary (CLI, GUI and store read these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from ..audio.io import Audio

Mode = Literal["joint", "audio", "transcript"]


class EngineError(RuntimeError):
    """A failure a person can act on (missing file, wrong checkpoint, out of memory)."""


class CheckpointError(EngineError):
    """A checkpoint that is missing, of the wrong kind, or lacks / misshapes tensors."""


class Cancelled(EngineError):
    """Loading was cancelled by the person."""


@dataclass(frozen=True)
class Profile:
    """Which files go together. `kind` selects how the prompt is built."""

    name: str
    llm: Path
    asr_whisper: Path | None
    feature_whisper: Path | None = None
    adapter: Path | None = None
    kind: str = "ltu-as"  # the model family (engine.FAMILIES)
    label: str = ""
    # How the adapter's training features were computed: "fp16" (new-GPU adapters) or "fp32" (old-GPU
    # ones, cast to fp16 afterwards). It decides the Whisper encoder's dtype on a GPU.
    feature_precision: Literal["fp16", "fp32"] = "fp16"

    def describe(self) -> str:
        return self.label or self.name


@dataclass
class GenerationSettings:
    """Defaults are the authors' demo settings; temperature 0 means greedy."""

    temperature: float = 0.1
    top_p: float = 0.95
    top_k: int = 500
    repetition_penalty: float = 1.1
    max_new_tokens: int = 500
    seed: int | None = None
    mode: Mode = "joint"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Transcript:
    text: str
    segments: tuple[Segment, ...] = ()
    language: str | None = None
    no_speech: bool = False


@dataclass
class Clip:
    """What `Engine.prepare` computed for one clip and window; reused across questions."""

    audio: Audio
    window: tuple[float, float]
    features: torch.Tensor | None
    transcript: Transcript | None
    prepare_seconds: float = 0.0


@dataclass
class Stats:
    prepare_s: float = 0.0
    prompt_tokens: int = 0
    first_token_s: float = 0.0
    new_tokens: int = 0
    decode_s: float = 0.0
    peak_memory_mb: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"
    reused_prefix_tokens: int = 0

    @property
    def tokens_per_s(self) -> float:
        return (self.new_tokens - 1) / self.decode_s if self.decode_s > 0 and self.new_tokens > 1 else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tokens_per_s"] = round(self.tokens_per_s, 3)
        return d


@dataclass
class Answer:
    text: str
    token_ids: list[int]
    stopped: bool
    stats: Stats
    prompt: str = ""
    transcript_used: str = ""
    notes: list[str] = field(default_factory=list)
    heard_audio: bool = False  # whether the 25 audio tokens were in the prompt (not in transcript mode or the demo)
