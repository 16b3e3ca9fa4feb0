"""Engine: the one entry point the CLI and the GUI use. It owns the models and every per-clip cache."""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import replace
from collections.abc import Callable, Iterator

import numpy as np
import torch

from ..audio.io import Audio
from . import precision as precision_mod
from .demo import Demo
from .family import AudioLM, Family, common_prefix, touch
from .generate import decode, pick
from .checkpoints import PEFT_PREFIX, load_pickled
from .lru import LRU
from .ltu import LTU
from .ltu_as import LTUAS
from .prompt import NO_SPEECH_ANSWER
from .tokenizer import TextStream
from .live_transcript import LiveTranscript
from .transcribe import Transcriber
from .types import (Answer, Cancelled, CheckpointError, Clip, EngineError, GenerationSettings, Profile, Segment,
                    Stats, Transcript)

Progress = Callable[[str, float], None]
FEATURE_CACHE_BYTES = 256 << 20  # LTU-AS: 32 x 25 x 1280 fp32 = 4 MB per window, so about 60 windows
PREFIX_CACHE_BYTES = 512 << 20  # 7B fp16: about 0.5 MB per cached position, so a dozen clips' prompt heads
FAMILIES: dict[str, Family] = {f.kind: f for f in (LTUAS(), LTU(), Demo())}


def family_of_adapter(path) -> str:
    """Which family an adapter or full fine-tune file belongs to, from the tensor names only it holds."""
    from pathlib import Path

    keys = [k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k for k in load_pickled(path, "Adapter")]
    found = [f for f in FAMILIES.values() if f.adapter_marker and any(k.startswith(f.adapter_marker) for k in keys)]
    if len(found) == 1:
        return found[0].kind
    name = Path(path).name
    if found:
        raise CheckpointError(f"{name} mixes the audio modules of {' and '.join(f.label for f in found)} "
                              f"({', '.join(PEFT_PREFIX + f.adapter_marker + '*' for f in found)}): refused.")
    expected = ", ".join(f"{PEFT_PREFIX}{f.adapter_marker}* ({f.label})" for f in FAMILIES.values() if f.adapter_marker)
    raise CheckpointError(f"{name} holds no audio modules of a known model: expected {expected}.")


def default_settings(kind: str, **given) -> GenerationSettings:
    """A family's defaults (greedy for the demo) under the settings given; None values are not given. Needs no
    loaded model, so a Ray driver gives its workers the same settings a local engine would use."""
    return GenerationSettings(**{**FAMILIES[kind].defaults, **{k: v for k, v in given.items() if v is not None}})


def memory_plan(profile: Profile, plan: precision_mod.Plan) -> precision_mod.MemoryEstimate | None:
    """None when the config cannot be read: the strict loader then says what is wrong with the folder."""
    import json

    try:
        cfg = json.loads((profile.llm / "config.json").read_text())
        adapter = profile.adapter.stat().st_size if profile.adapter and profile.adapter.exists() else 0
        return precision_mod.estimate(plan, cfg, [profile.feature_whisper, profile.asr_whisper], adapter)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def memory_options(profile: Profile, device: str) -> dict[str, precision_mod.MemoryEstimate | None]:
    """Each precision offered on `device` with its memory estimate for this profile (None: no estimate)."""
    return {p: memory_plan(profile, precision_mod.plan(device, p)) for p in precision_mod.offered(device)}


def _transcribe_until(transcriber: Transcriber, clips: Callable[[], list[Audio]], done: threading.Event) -> None:
    """Transcribe each waiting clip once until `done`; a failure is left for the clip's own request to report."""
    seen: set[str] = set()
    while not done.is_set():
        todo = [a for a in clips() if a.content_hash not in seen]
        if not todo:
            done.wait(0.1)
        for audio in todo[:1]:
            seen.add(audio.content_hash)
            try:
                transcriber(audio)
            except Exception:
                pass


def ct2_compute_type(plan: precision_mod.Plan) -> str:
    """CTranslate2 transcripts follow the LLM's precision: int8 beside an int8/NF4 LLM (equal word error on the
    test set, 1.13x faster at large-v2's size), float32 otherwise on a CPU, float16 on a GPU."""
    if plan.device.type == "cuda":
        return "float16"
    return "int8" if plan.quant else "float32"


def warm_up(lm: AudioLM, transcriber: Transcriber | None) -> None:
    """Part of loading, so that "Ready" means ready: the first question then costs what later ones do."""
    lm.warm_up()
    if transcriber is not None and isinstance(transcriber.model, torch.nn.Module):
        touch(transcriber.model)


def memory_mb(device: torch.device | None = None) -> float:
    """Memory in use now: CUDA allocations on a GPU, resident set size on the CPU."""
    if device is not None and device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    try:
        with open("/proc/self/statm") as f:
            import os

            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_memory_mb(device)


def peak_memory_mb(device: torch.device | None = None) -> float:
    if device is not None and device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class Engine:
    def __init__(self, profile: Profile, plan: precision_mod.Plan, family: Family, lm: AudioLM, tokenizer,
                 transcriber: Transcriber | None, notes: list[str]):
        self.profile = profile
        self.plan = plan
        self.family = family
        self.lm = lm
        self.tokenizer = tokenizer
        self.transcriber = transcriber
        self.notes = notes
        self.last_answer: Answer | None = None
        self.memory_estimate: precision_mod.MemoryEstimate | None = None
        self._features: LRU[torch.Tensor] = LRU(FEATURE_CACHE_BYTES)
        self._prefixes: LRU[object] = LRU(PREFIX_CACHE_BYTES)
        self._lock = threading.Lock()
        self.shares_base = False

    @property
    def device(self) -> str:
        return self.plan.device.type

    @property
    def precision(self) -> str:
        return self.plan.precision

    @property
    def hears_audio(self) -> bool:
        """False when the model answers from the transcript alone (the demo profile)."""
        return self.family.hears_audio

    @property
    def reads_transcript(self) -> bool:
        """False when the model never sees the transcript (LTU); it is still shown to the person."""
        return self.family.reads_transcript

    @property
    def window_seconds(self) -> float:
        """How much of the clip the model hears at once (0 when it hears nothing)."""
        return self.lm.front.window_seconds if self.lm.front is not None else 0.0

    def default_settings(self, **given) -> GenerationSettings:
        return default_settings(self.family.kind, **given)

    @property
    def trainable_parameters(self) -> int:
        """What the authors' training counted as trainable: LoRA + audio modules (everything, for a full fine-tune)."""
        return self.lm.trainable

    @property
    def transcript_backend(self) -> str:
        """"openai-whisper" or "CTranslate2 <type>"; "" without a transcript Whisper."""
        return self.transcriber.describe() if self.transcriber is not None else ""

    @property
    def last_stats(self) -> Stats | None:
        return self.last_answer.stats if self.last_answer else None

    def memory_mb(self) -> float:
        return memory_mb(self.plan.device)

    @classmethod
    def load(cls, profile: Profile, device: str = "auto", precision: str = "auto",
             progress: Progress | None = None, cancel: threading.Event | None = None,
             early_clips: Callable[[], list[Audio]] | None = None, share_base: Engine | None = None,
             encoder: str = "auto") -> Engine:
        """`early_clips` lists clips waiting for a transcript: the ASR model loads first and transcribes them
        on a side thread while the LLM loads, so their transcripts are cached by the time it is ready.

        `share_base`: a loaded engine whose base LLM holds the same weights (see compare.same_base); this
        profile's LoRA is attached to that base and the two engines take turns on it under one lock."""
        report = progress or (lambda _s, _f: None)

        def checkpoint(stage: str, fraction: float) -> None:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Loading was cancelled.")
            report(stage, fraction)

        plan = precision_mod.plan(device, precision, encoder)
        if profile.feature_precision == "fp32" and plan.device.type == "cuda":
            plan = replace(plan, feature_dtype=torch.float32)
        notes: list[str] = []
        memory = memory_plan(profile, plan) if share_base is None else None
        if memory is not None:
            report(f"Memory needed: {memory.describe()}", 0.02)
        if memory is not None and not memory.fits:
            better = [p for p in precision_mod.fitting_precisions(plan.device)
                      if memory_plan(profile, precision_mod.plan(device, p)).fits]
            hint = f"choose precision {better[0]}" if better else "no precision fits: free memory or use a GPU"
            raise EngineError(f"{profile.describe()} in {plan.describe()} needs {memory.describe()}; {hint}.")
        done = threading.Event()
        early: threading.Thread | None = None
        try:
            transcriber = None
            if profile.asr_whisper is not None:
                checkpoint(f"Reading the transcript Whisper {profile.asr_whisper.name}", 0.05)
                transcriber = Transcriber(profile.asr_whisper, plan.device, compute_type=ct2_compute_type(plan))
                if transcriber.compute_type:
                    notes.append(f"Transcripts come from CTranslate2 ({transcriber.compute_type}); choose openai-whisper "
                                 "for transcripts worded exactly as the authors' runs.")
                if early_clips is not None:
                    early = threading.Thread(target=_transcribe_until, args=(transcriber, early_clips, done),
                                             name="early-transcripts", daemon=True)
                    early.start()
            family = FAMILIES.get(profile.kind)
            if family is None:
                raise CheckpointError(f"Unknown model family {profile.kind!r}: one of {', '.join(FAMILIES)}.")
            lm, tokenizer = family.load(profile, plan, notes, checkpoint,
                                        share_base.lm if share_base is not None else None)
            checkpoint("Warming up (reading every weight, running each kernel once)", 0.95)
            warm_up(lm, transcriber)
        except (torch.OutOfMemoryError, MemoryError) as exc:
            raise EngineError(
                f"Out of memory while loading {profile.describe()} in {plan.describe()}: "
                "try a smaller precision (bf16) or another device."
            ) from exc
        finally:
            done.set()
            if early is not None:
                early.join()
        checkpoint("Ready", 1.0)
        engine = cls(profile, plan, family, lm, tokenizer, transcriber, notes)
        engine.memory_estimate = memory
        if share_base is not None and lm.llm is share_base.lm.llm:
            engine._lock = share_base._lock
            engine.shares_base = share_base.shares_base = True
        return engine

    def transcribe(self, audio: Audio, on_segment: Callable[[Segment], None] | None = None) -> Transcript:
        """`on_segment` sees each segment as it is recognized, for a transcript panel that fills as it goes."""
        if self.transcriber is None:
            raise EngineError("This profile has no transcript (ASR) Whisper model.")
        with self._lock:
            return self.transcriber(audio, on_segment)

    def live_transcript(self) -> LiveTranscript:
        """For a recording still being made: `update` it with the audio so far, `finish` it with the whole take,
        whose transcript is then cached like any other."""
        transcriber = self.transcriber
        if transcriber is None:
            raise EngineError("This profile has no transcript (ASR) Whisper model.")

        def run(audio: Audio) -> Transcript:
            with self._lock:
                return transcriber.run(audio)

        return LiveTranscript(run, lambda audio, transcript: transcriber.cache.put(audio.content_hash, transcript))

    def window_start(self, audio: Audio, window: tuple[float, float] | None) -> float:
        start = float(window[0]) if window else 0.0
        return round(min(max(0.0, start), max(0.0, audio.duration - self.window_seconds)), 2)

    def prepare(self, audio: Audio, window: tuple[float, float] | None = None,
                transcript: Transcript | None = None) -> Clip:
        """Features of the chosen 10 s, the transcript of the whole clip and the KV cache of the audio positions
        and the prompt's head, each computed once (a transcript-mode question does not use that cache)."""
        t0 = time.perf_counter()
        start = self.window_start(audio, window)
        features = self._window_features(audio, start) if self.hears_audio else None
        if transcript is None and self.transcriber is not None:
            transcript = self.transcribe(audio)
        end = min(start + self.window_seconds, audio.duration)
        clip = Clip(audio, (start, end), features, transcript)
        self._prefill_head(clip)
        clip.prepare_seconds = time.perf_counter() - t0
        return clip

    def _prefill_head(self, clip: Clip) -> None:
        """The KV cache of the audio positions and the template head, built as soon as the features exist
        (in the app: while the person types), so the first question pays only for its own tokens."""
        text_input = clip.transcript.text if clip.transcript is not None and self.reads_transcript else ""
        _, head, _ = self._prompt("?", text_input)
        if not head and clip.features is None:
            return
        with self._lock:
            self.lm.activate()  # a shared base: the head is built under this engine's own adapter
            self._prefix_cache(clip, head, clip.features is not None, Stats())

    def prepare_features(self, features, transcript: Transcript | None = None, source: str = "features") -> Clip:
        """A clip from precomputed features in place of audio, such as the authors' LTU-AS feature files
        (`.npz` with `arr_0`): exactly what `prepare` computes for a clip's first window."""
        if not self.hears_audio:
            raise EngineError(f"{self.profile.describe()} reads only transcripts; it cannot use feature files.")
        x = torch.as_tensor(np.asarray(features)).float()
        expected = tuple(self.lm.front.feature_shape)
        if x.ndim == len(expected) + 1 and x.shape[0] == 1:
            x = x[0]
        if tuple(x.shape) != expected:
            raise EngineError(f"{source}: features of shape {list(x.shape)}, but this model takes {list(expected)}.")
        if not torch.isfinite(x).all():
            raise EngineError(f"{source}: the features contain NaN or infinite values; the file is damaged.")
        # No samples: the per-clip caches key on the features' own hash instead.
        audio = Audio(np.zeros(0, np.float32), source, [hashlib.sha256(x.numpy().tobytes()).hexdigest()])
        return Clip(audio, (0.0, self.window_seconds), x.to(self.plan.device), transcript)

    def _window_features(self, audio: Audio, start: float) -> torch.Tensor:
        key = (audio.content_hash, start)
        with self._lock:
            found = self._features.get(key)
            return found if found is not None else self._features.put(key, self.lm.front.features(audio, start))

    def _prompt(self, question: str, text_input: str) -> tuple[list[int], list[int], str]:
        return self.family.prompt(self.tokenizer, question, text_input)

    def answer(self, clip: Clip, question: str, transcript: str | None = None,
               settings: GenerationSettings | None = None, stop: threading.Event | None = None) -> Iterator[str]:
        """Stream the answer's text pieces; `engine.last_answer` holds the whole answer (also when stopped).

        The question goes into the prompt verbatim, as the authors' batch script puts its instruction."""
        s = settings or GenerationSettings()
        if not question.strip():
            raise EngineError("The question is empty.")
        text_input, use_audio = self._inputs(clip, transcript, s.mode)
        stats = Stats(prepare_s=clip.prepare_seconds, device=self.device, precision=self.precision)
        if not self.hears_audio and (not text_input.strip() or (
                transcript is None and clip.transcript is not None and clip.transcript.no_speech)):
            self.last_answer = Answer(NO_SPEECH_ANSWER, [], False, stats, "", text_input, ["no speech detected"])
            yield NO_SPEECH_ANSWER
            return
        with self._lock:
            self.lm.activate()
            yield from self._generate(clip, question, text_input, use_audio, s, stop, stats)

    def forced_choices(self, clip: Clip, question: str, answer_ids: list[int], transcript: str | None = None,
                       settings: GenerationSettings | None = None) -> list[int]:
        """The token this engine would pick greedily at each position of a given answer, after that answer's
        own earlier tokens: precisions compare position by position, and one early difference cannot
        derail the rest of the comparison as it derails free-running answers."""
        s = replace(settings or GenerationSettings(), temperature=0.0)
        text_input, use_audio = self._inputs(clip, transcript, s.mode)
        picks: list[int] = []
        with self._lock:
            self.lm.activate()
            ids, head, _ = self._prompt(question, text_input)
            n_head = min(common_prefix(ids, head), len(ids) - 1)
            cache = self._prefix_cache(clip, ids[:n_head], use_audio, Stats())
            logits = self.lm.prefill(self.lm.embed(ids[n_head:]), cache)
            seen = torch.tensor(ids, dtype=torch.long, device=logits.device)
            for i, token in enumerate(answer_ids):
                picks.append(pick(logits, seen, s, None))
                if i + 1 < len(answer_ids):
                    seen = torch.cat([seen, seen.new_tensor([token])])
                    logits = self.lm.step(token, cache)
        return picks

    def _inputs(self, clip: Clip, transcript: str | None, mode: str) -> tuple[str, bool]:
        """The prompt's Input text and whether the audio tokens go in, for the chosen mode: a model that hears
        nothing (the demo) always reads the transcript, one that reads nothing (LTU) always hears the audio."""
        mode = "transcript" if not self.hears_audio else "audio" if not self.family.reads_transcript else mode
        text_input = transcript if transcript is not None else (clip.transcript.text if clip.transcript else "")
        if mode == "audio" or not self.family.reads_transcript:
            text_input = ""
        if mode != "transcript" and clip.features is None:
            raise EngineError("This clip has no audio features; call prepare() with this engine first.")
        return text_input, mode != "transcript"

    def _generate(self, clip: Clip, question: str, text_input: str, use_audio: bool, s: GenerationSettings,
                  stop: threading.Event | None, stats: Stats) -> Iterator[str]:
        t0 = time.perf_counter()
        ids, head, prompt = self._prompt(question, text_input)
        n_head = min(common_prefix(ids, head), len(ids) - 1)
        stats.prompt_tokens = len(ids) + (clip.features.shape[1] if use_audio else 0)
        room = self._room(stats.prompt_tokens, question, text_input)
        answer = Answer("", [], False, stats, prompt, text_input, list(self.notes), use_audio)
        if room < s.max_new_tokens:
            s = replace(s, max_new_tokens=room)
            answer.notes.append(f"the answer was limited to {room} tokens: the prompt fills the rest of the "
                                f"model's {self.context} positions")
        self.last_answer = answer
        if self.plan.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.plan.device)
        generated: list[int] = []
        stream = TextStream(self.tokenizer.decode)
        try:
            cache = self._prefix_cache(clip, ids[:n_head], use_audio, stats)
            logits = self.lm.prefill(self.lm.embed(ids[n_head:]), cache)
            generator = None
            if s.seed is not None:
                generator = torch.Generator(device=self.plan.device).manual_seed(s.seed)
            t_first = None
            for token in decode(logits, lambda t: self.lm.step(t, cache), ids, s, self.tokenizer.eos_ids,
                                stop, generator):
                if t_first is None:
                    t_first = time.perf_counter()
                    stats.first_token_s = t_first - t0
                stats.new_tokens += 1
                if token in self.tokenizer.eos_ids:
                    break
                generated.append(token)
                answer.token_ids = list(generated)
                piece = stream.push(generated)
                if piece:
                    yield piece
            if t_first is not None:
                stats.decode_s = time.perf_counter() - t_first
            answer.stopped = stop is not None and stop.is_set()
        except (torch.OutOfMemoryError, MemoryError) as exc:
            answer.notes.append("out of memory")
            raise EngineError("Out of memory while answering; the partial answer was kept. "
                              "Try a shorter answer (max new tokens) or a smaller precision.") from exc
        finally:
            answer.token_ids = list(generated)
            answer.text = self.tokenizer.decode(generated).strip()
            stats.peak_memory_mb = round(peak_memory_mb(self.plan.device), 1)
        tail = answer.text[len(stream.shown):] if answer.text.startswith(stream.shown) else ""
        if tail:
            yield tail

    @property
    def context(self) -> int | None:
        """Positions the LLM can attend to (prompt and answer together), when its config says."""
        return getattr(self.lm.llm.config, "max_position_embeddings", None)

    def _room(self, prompt_tokens: int, question: str, text_input: str) -> int:
        """Tokens left for the answer; a prompt that does not fit is refused, never silently run past the
        positions the model was trained on."""
        if self.context is None:
            return 1 << 30
        if prompt_tokens >= self.context:
            raise EngineError(f"The prompt is {prompt_tokens} tokens, but this model reads at most {self.context} "
                              f"(question and answer together). Shorten the question ({len(question)} characters) "
                              f"or the transcript ({len(text_input)} characters).")
        return self.context - prompt_tokens

    def _prefix_cache(self, clip: Clip, head: list[int], use_audio: bool, stats: Stats):
        """A fresh copy of the KV cache for [audio tokens + prompt head], computed once per clip and window."""
        key = (clip.audio.content_hash, clip.window[0] if use_audio else None, tuple(head))
        snapshot = self._prefixes.get(key)
        if snapshot is None:
            cache = self.lm.new_cache()
            parts = [self.lm.audio_tokens(clip.features)] if use_audio else []
            if head:
                parts.append(self.lm.embed(head))
            if parts:
                self.lm.prefill(torch.cat([p.to(self.lm.llm.dtype) for p in parts], dim=1), cache)
            snapshot = self._prefixes.put(key, cache)
        else:
            stats.reused_prefix_tokens = snapshot.get_seq_length()
        return self.lm.fork_cache(snapshot)
