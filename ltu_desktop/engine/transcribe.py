"""Whisper ASR of the whole clip -> timed segments, cached by the clip's content hash."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
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
# openai-whisper's transcribe() defaults, which transcribe_windows follows.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
LOGPROB_FLOOR = -1.0
NO_SPEECH_THRESHOLD = 0.6


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
        self.compute_type = compute_type if self.backend == "ctranslate2" else None
        self.cache: LRU[Transcript] = LRU(cache_bytes)

    def describe(self) -> str:
        """Names what makes the transcripts: two backends (or CTranslate2 types) can word them differently."""
        return f"CTranslate2 {self.compute_type}" if self.compute_type else "openai-whisper"

    def __call__(self, audio: Audio, on_segment: Callable[[Segment], None] | None = None) -> Transcript:
        """`on_segment` sees each segment as soon as its 30 s window is decoded (a cached transcript hands them
        over at once): the same segments, in order, that the returned transcript holds."""
        key = audio.content_hash
        found = self.cache.get(key)
        if found is not None:
            for segment in found.segments if on_segment else ():
                on_segment(segment)
            return found
        return self.cache.put(key, self.run(audio, on_segment=on_segment))

    def run(self, audio: Audio, on_segment: Callable[[Segment], None] | None = None) -> Transcript:
        """One uncached run (a recording's pieces while it is being made)."""
        on_segment = on_segment or (lambda _s: None)
        if self.backend == "ctranslate2":
            return self._run_ct2(audio, on_segment)
        segments: list[Segment] = []

        def window(raw: list[dict]) -> None:
            for s in filter(None, map(_segment, raw)):
                segments.append(s)
                on_segment(s)

        out = transcribe_windows(self.model, audio.samples, fp16=self.device.type == "cuda",
                                 language=None if self.model.is_multilingual else "en", on_window=window)
        return _transcript(out["segments"], out["text"], out["language"], tuple(segments))

    def _run_ct2(self, audio: Audio, on_segment: Callable[[Segment], None]) -> Transcript:
        pieces, info = self.model.transcribe(
            audio.samples, language=None if self.model.model.is_multilingual else "en", beam_size=1, best_of=5,
            temperature=TEMPERATURES, condition_on_previous_text=True, vad_filter=False)
        raw, segments = [], []
        for s in pieces:
            raw.append({"start": s.start, "end": s.end, "text": s.text, "no_speech_prob": s.no_speech_prob,
                        "compression_ratio": s.compression_ratio})
            segment = _segment(raw[-1])
            if segment is not None:
                segments.append(segment)
                on_segment(segment)
        return _transcript(raw, "".join(r["text"] for r in raw), info.language, tuple(segments))


def transcribe_windows(model, samples: np.ndarray, *, fp16: bool, language: str | None,
                       on_window: Callable[[list[dict]], None] = lambda _raw: None) -> dict:
    """`whisper.transcribe(model, samples, fp16=fp16, language=language)` with its
    other options at their defaults, returning the same dict, and handing each 30 s window's segments to
    `on_window` as soon as that window is decoded (openai-whisper's own loop has no such hook).

    Built from openai-whisper's public parts (log-Mel, `model.decode`, its tokenizer) and its documented
    algorithm: temperature fallback on a repetitive or improbable decoding, silence skipped, the next window
    starting at the last complete segment, text conditioned on everything since the last hot fallback.
    tests/engine/test_transcript_stream.py holds it equal to `whisper.transcribe` on multi-window clips."""
    from whisper.audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE, log_mel_spectrogram, pad_or_trim
    from whisper.decoding import DecodingOptions
    from whisper.tokenizer import get_tokenizer

    dtype = torch.float16 if fp16 else torch.float32
    mel = log_mel_spectrogram(samples, model.dims.n_mels, padding=N_SAMPLES)
    frames = mel.shape[-1] - N_FRAMES
    if language is None:
        _, probs = model.detect_language(pad_or_trim(mel, N_FRAMES).to(model.device).to(dtype))
        language = max(probs, key=probs.get)
    tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages, language=language,
                              task="transcribe")
    stride = N_FRAMES // model.dims.n_audio_ctx  # Mel frames per timestamp step
    step = stride * HOP_LENGTH / SAMPLE_RATE  # 0.02 s
    first = tokenizer.timestamp_begin
    tokens_so_far: list[int] = []
    reset_at, segments = 0, []

    def decode(window: torch.Tensor):
        for t in TEMPERATURES:
            result = model.decode(window, DecodingOptions(language=language, fp16=fp16, temperature=t,
                                                          prompt=tokens_so_far[reset_at:]))
            failed = result.compression_ratio > MAX_COMPRESSION or result.avg_logprob < LOGPROB_FLOOR
            silent = result.no_speech_prob > NO_SPEECH_THRESHOLD and result.avg_logprob < LOGPROB_FLOOR
            if not failed or silent:
                break
        return result

    seek = 0
    while seek < frames:
        offset, size = seek * HOP_LENGTH / SAMPLE_RATE, min(N_FRAMES, frames - seek)
        result = decode(pad_or_trim(mel[:, seek:seek + size], N_FRAMES).to(model.device).to(dtype))
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and not result.avg_logprob > LOGPROB_FLOOR:
            seek += size
            continue
        tokens = torch.tensor(result.tokens)
        stamp = tokens.ge(first)
        ends_single = stamp[-2:].tolist() == [False, True]
        cuts = (torch.where(stamp[:-1] & stamp[1:])[0] + 1).tolist()

        def segment(start: float, end: float, piece: torch.Tensor) -> dict:
            ids = piece.tolist()
            return {"seek": seek, "start": start, "end": end,
                    "text": tokenizer.decode([i for i in ids if i < tokenizer.eot]), "tokens": ids,
                    "temperature": result.temperature, "avg_logprob": result.avg_logprob,
                    "compression_ratio": result.compression_ratio, "no_speech_prob": result.no_speech_prob}

        window: list[dict] = []
        if cuts:  # complete segments between pairs of timestamps; an unfinished last one is decoded again
            bounds = [0, *cuts, *([len(tokens)] if ends_single else [])]
            for a, b in zip(bounds, bounds[1:]):
                window.append(segment(offset + (tokens[a].item() - first) * step,
                                      offset + (tokens[b - 1].item() - first) * step, tokens[a:b]))
            seek += size if ends_single else (tokens[bounds[-1] - 1].item() - first) * stride
        else:
            stamps = tokens[stamp.nonzero().flatten()]
            last = stamps[-1].item() if len(stamps) else first
            duration = (last - first) * step if last != first else size * HOP_LENGTH / SAMPLE_RATE
            window.append(segment(offset, offset + duration, tokens))
            seek += size
        for s in window:
            if s["start"] == s["end"] or not s["text"].strip():  # instantaneous or empty: kept, cleared
                s.update(text="", tokens=[], words=[])
        window = [{"id": i, **s} for i, s in enumerate(window, start=len(segments))]
        segments += window
        tokens_so_far += [t for s in window for t in s["tokens"]]
        if result.temperature > 0.5:  # a hot fallback's text would mislead the next window
            reset_at = len(tokens_so_far)
        on_window(window)
    return {"text": tokenizer.decode(tokens_so_far), "segments": segments, "language": language}


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


def _segment(raw: dict) -> Segment | None:
    text = strip_hallucinations(raw["text"]).strip()
    return Segment(float(raw["start"]), float(raw["end"]), text) if text else None


def _transcript(raw: list[dict], text: str, language: str | None, segments: tuple[Segment, ...]) -> Transcript:
    speech = any(s.get("no_speech_prob", 0.0) < NO_SPEECH_PROB and s.get("compression_ratio", 0.0) <= MAX_COMPRESSION
                 for s in raw if strip_hallucinations(s["text"]).strip())
    # Left-stripped only, as the authors do: trailing whitespace is part of the prompt they built.
    text = strip_hallucinations(text.lstrip())
    return Transcript(text, segments, language, no_speech=not (speech and text.strip()))
