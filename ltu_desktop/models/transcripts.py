"""Which Whisper runs the transcripts: CTranslate2 where it is measured faster, openai-whisper where a run must
match the authors' transcripts exactly.

Measured on 2 CPU cores (docs/bench-cpu.md): at large-v2's size CTranslate2 transcribes 1.58x (float32) and
1.79x (int8) faster than openai-whisper; at tiny.en's only ~1.4x, under the 1.5x that is worth a second set of
transcripts. So `auto` converts medium and large checkpoints (24+ encoder layers) once into the cache and runs them
through faster-whisper, and leaves the small ones, the demo's included, on openai-whisper.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..engine.types import CheckpointError, EngineError, Profile
from . import cache

BACKENDS = ("auto", "openai-whisper", "ctranslate2")
LABELS = {"auto": "Automatic (CTranslate2 for large Whisper models)",
          "openai-whisper": "openai-whisper (the authors' transcripts exactly)",
          "ctranslate2": "CTranslate2 (faster-whisper)"}
AUTO_MIN_LAYERS = 24  # Whisper medium and large; tiny..small stay on openai-whisper
_RECIPE = 1  # bump when the conversion changes, so old entries are rebuilt

Progress = Callable[[str, float], None]


def has_ctranslate2() -> bool:
    return importlib.util.find_spec("faster_whisper") is not None


def with_transcripts(profile: Profile, backend: str = "auto", progress: Progress | None = None) -> Profile:
    """`profile` with its transcript Whisper in the backend asked for: an openai-whisper checkpoint (.pt) or a
    CTranslate2 folder converted from it once (~1 min and ~6 GB of memory for large-v2, then reused)."""
    if backend not in BACKENDS:
        raise EngineError(f"Unknown transcript backend {backend!r}: one of {', '.join(BACKENDS)}.")
    asr = profile.asr_whisper
    if asr is None:
        return profile
    if asr.is_dir():  # already a CTranslate2 folder
        if backend == "openai-whisper":
            raise EngineError(f"{asr} is a CTranslate2 Whisper folder; openai-whisper needs a .pt checkpoint "
                              "(choose the transcript backend auto or ctranslate2, or give the .pt file).")
        return profile
    if backend == "openai-whisper" or backend == "auto" and (profile.kind == "demo" or not has_ctranslate2()):
        return profile
    from ..engine.checkpoints import read_whisper

    ck = read_whisper(asr, encoder_only=False)  # memory-mapped: only the dims are read unless it converts
    if backend == "auto" and (ck.dims["n_audio_layer"] < AUTO_MIN_LAYERS or not _convertible(ck.dims)):
        return profile
    if not has_ctranslate2():
        raise EngineError("Transcripts through CTranslate2 need faster-whisper: pip install faster-whisper "
                          "(or choose the openai-whisper transcript backend).")
    return replace(profile, asr_whisper=ensure_ct2(asr, ck.dims, lambda: ck.state, progress))


def _convertible(dims: dict) -> bool:
    """A packaged tokenizer exists for its vocabulary (large-v3's 51866 tokens has none here)."""
    from .ct2_whisper import CT2FormatError, vocabulary_folder

    try:
        vocabulary_folder(dims["n_vocab"])
    except CT2FormatError:
        return False
    return True


def ensure_ct2(checkpoint: Path, dims: dict, state: Callable[[], dict], progress: Progress | None = None) -> Path:
    """The CTranslate2 folder made from `checkpoint`, built once per checkpoint file (size and mtime) and
    ctranslate2 version; stored in float16 (what OpenAI's checkpoints hold), run in the precision asked at load."""
    from ..paths import cache_dir
    from .ct2_whisper import CT2FormatError, whisper_to_ct2

    checkpoint = checkpoint.resolve()
    stat = checkpoint.stat()
    source = {"checkpoint": str(checkpoint), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
              "ctranslate2": importlib.metadata.version("ctranslate2"), "recipe": _RECIPE}
    tag = hashlib.sha256(str(checkpoint).encode()).hexdigest()[:10]
    entry = cache_dir() / "ct2-whisper" / f"{checkpoint.stem}-{tag}"
    if cache.is_valid(entry, source, hashes=False):  # CTranslate2 refuses a damaged model.bin itself
        return entry
    report = progress or (lambda _s, _f: None)
    report(f"Converting {checkpoint.name} for CTranslate2 (once; later loads reuse it)", 0.01)
    try:
        cache.build_entry(entry, source, lambda tmp: whisper_to_ct2(dims, state(), tmp, "float16"))
    except CT2FormatError as exc:
        raise CheckpointError(f"{checkpoint.name} cannot run through CTranslate2: {exc}. Choose the openai-whisper "
                              "transcript backend.") from exc
    except MemoryError as exc:
        raise EngineError(f"Out of memory while converting {checkpoint.name} for CTranslate2: choose the "
                          "openai-whisper transcript backend, or free memory and try again.") from exc
    except OSError as exc:
        raise EngineError(f"Could not write the CTranslate2 copy of {checkpoint.name} under {entry.parent}: "
                          f"{exc.strerror or exc}.") from exc
    return entry
