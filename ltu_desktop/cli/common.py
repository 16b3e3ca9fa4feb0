"""What every model-using subcommand shares: model and generation options, profile resolution, progress."""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULTS = dict(temperature=0.1, top_p=0.95, top_k=500, repetition_penalty=1.1, max_new_tokens=500)


def ranged(kind: type, low: float | None = None, high: float | None = None, *, above: bool = False,
           what: str = "") -> Callable[[str], float]:
    """An argparse `type=` that refuses values outside [low, high] (or (low, high] with `above`), NaN and
    infinities, naming the valid range: a nonsense value must not run silently."""
    if low is not None and high is not None:
        rule = f"{'above' if above else 'from'} {low} {'and up to' if above else 'to'} {high}"
    elif low is not None:
        rule = f"{'above' if above else 'at least'} {low}"
    else:
        rule = f"at most {high}"
    name = "a whole number" if kind is int else "a number"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        if (not math.isfinite(value) or (low is not None and (value <= low if above else value < low))
                or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"{text} is out of range: use {name} {rule}{what}")
        return value
    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def progress_printer(quiet: bool):
    def report(stage: str, fraction: float) -> None:
        if not quiet:
            print(f"\r[{fraction * 100:3.0f}%] {stage}\033[K", end="\n" if fraction >= 1 else "", file=sys.stderr,
                  flush=True)
    return report


@contextmanager
def ticking(label: str, quiet: bool, after: float = 1.0) -> Iterator[None]:
    """A stage with no progress of its own (Whisper over a long clip) shows its elapsed time each second once
    it has taken longer than `after`: minutes of silence look like a hang."""
    done = threading.Event()

    def tick() -> None:
        t0, shown = time.monotonic(), False
        while not done.wait(after if not shown else 1.0):
            shown = True
            print(f"\r{label}: {time.monotonic() - t0:.0f} s\033[K", end="", file=sys.stderr, flush=True)
        if shown:
            print(f"\r{label}: done in {time.monotonic() - t0:.0f} s\033[K", file=sys.stderr, flush=True)
    thread = None if quiet else threading.Thread(target=tick, name="ticking", daemon=True)
    if thread is not None:
        thread.start()
    try:
        yield
    finally:
        done.set()
        if thread is not None:
            thread.join()


def load_audio_noting(path: Path):
    """The clip, with a note on stderr when it was usable but damaged (a cut-short WAV)."""
    from ..audio.io import load_audio

    audio = load_audio(path)
    if audio.warning:
        print(f"note: {audio.warning}", file=sys.stderr)
    return audio


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--profile", default=None,
                   help="demo (built in, no download), tiny (random test model), or a catalog profile name")
    g.add_argument("--llm", type=Path, help="base LLM folder (Hugging Face LLaMA / Vicuna)")
    g.add_argument("--adapter", type=Path, help="LTU or LTU-AS adapter or full fine-tune .bin (the file says which)")
    g.add_argument("--whisper", type=Path, help="LTU-AS only: Whisper checkpoint for audio features (large-v1.pt)")
    g.add_argument("--asr-whisper", type=Path, help="Whisper checkpoint for transcripts (large-v2.pt)")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8", "nf4"])
    g.add_argument("--encoder-precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="CPU: the audio encoder's precision (auto: bf16 under bf16/int8/nf4, fp32 under fp32)")
    g.add_argument("--transcripts", default="auto", choices=["auto", "openai-whisper", "ctranslate2"],
                   help="which Whisper makes the transcripts (default %(default)s; auto: CTranslate2 for medium and "
                        "large Whisper, converted once into the cache; openai-whisper: the authors' transcripts "
                        "exactly)")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation (defaults: the authors' demo settings for the loaded model; LTU-AS: "
                             "temperature 0.1, top-p 0.95, top-k 500, repetition penalty 1.1, 500 tokens; LTU: "
                             "0.1, 0.95, 50, 1.0, 400)")
    g.add_argument("--temperature", type=ranged(float, 0, 10, what=" (0 = greedy)"), default=None,
                   help=f"0-10, 0 = greedy (default {DEFAULTS['temperature']}; the demo profile: 0, as in the app)")
    g.add_argument("--top-p", type=ranged(float, 0, 1, above=True), default=None, help="above 0, up to 1")
    g.add_argument("--top-k", type=ranged(int, 0, what=" (0 = no limit)"), default=None,
                   help="0 = no limit")
    g.add_argument("--repetition-penalty", type=ranged(float, 0, 10, above=True),
                   default=None, help="above 0 (1 = none)")
    g.add_argument("--max-new-tokens", type=ranged(int, 1, 100_000), default=None)
    g.add_argument("--seed", type=ranged(int, 0, 2**63 - 1), default=None)
    g.add_argument("--window", type=ranged(float, 0), default=0.0, metavar="START",
                   help="start (s) of the window the model hears; the transcript covers the whole clip")
    g.add_argument("--mode", default="joint", choices=["joint", "audio", "transcript"])


def resolve_profile(args: argparse.Namespace, progress):
    from ..models.profiles import resolve_profile as resolve
    from ..models.transcripts import with_transcripts

    profile = resolve(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper, progress)
    return with_transcripts(profile, getattr(args, "transcripts", "auto"), progress)


def settings_from(args: argparse.Namespace, engine=None, kind: str | None = None):
    """The flags given, over the family's defaults (greedy for the demo, the same as the app's): the loaded
    engine's, or those of the profile's family `kind` when no engine is loaded here (--ray)."""
    from ..engine.engine import default_settings

    given = dict(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                 repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens, seed=args.seed,
                 mode=args.mode)
    return engine.default_settings(**given) if engine is not None else default_settings(kind or "ltu-as", **given)


def add_scale_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("feature files, many GPUs and machines")
    g.add_argument("--features", type=Path, metavar="DIR",
                   help="folder of Whisper feature files (<audio name>.npz with arr_0) used in place of the audio")
    g.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="spread the items over Ray actors, one engine per GPU: local (start Ray here), auto (the "
                        "cluster this machine joined) or a cluster address (pip install 'ltu-desktop[cluster]')")
    g.add_argument("--cpus-per-worker", type=ranged(int, 1), default=4,
                   help="cores per engine on CPU-only Ray clusters")
    g.add_argument("--workers", type=ranged(int, 1), default=None, help="number of engines (default: one per GPU)")


def item_answerer(args: argparse.Namespace, base: Path):
    """The profile, and how items get answered: by engines on a Ray cluster with --ray, else by one engine here."""
    from ..batch.runner import local_answer

    if args.ray:
        if importlib.util.find_spec("ray") is None:
            from ..engine.types import EngineError

            raise EngineError("--ray needs Ray: pip install 'ltu-desktop[cluster]'.")
        from ..evaluation.ray_runner import ray_answer

        profile = resolve_profile(args, progress_printer(args.quiet))
        settings = settings_from(args, kind=profile.kind)
        return profile, ray_answer(args.ray, profile, args.device, args.precision, base, settings, args.window,
                                   args.features, args.cpus_per_worker, args.workers, args.quiet)
    engine = load_engine(args)
    return engine.profile, local_answer(engine, base, settings_from(args, engine), args.window, args.features)


def load_engine(args: argparse.Namespace):
    from ..engine.engine import Engine

    progress = progress_printer(args.quiet)
    profile = resolve_profile(args, progress)
    if not args.quiet and (profile.kind == "demo" or profile.name == "tiny"):
        print(f"Model: {profile.describe()}", file=sys.stderr)
    engine = Engine.load(profile, device=args.device, precision=args.precision, progress=progress,
                         encoder=args.encoder_precision)
    for note in engine.notes:
        print(f"note: {note}", file=sys.stderr)
    return engine
