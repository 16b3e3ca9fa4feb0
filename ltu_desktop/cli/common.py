"""What every model-using subcommand shares: model and generation options, profile resolution, progress."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

DEFAULTS = dict(temperature=0.1, top_p=0.95, top_k=500, repetition_penalty=1.1, max_new_tokens=500)


def progress_printer(quiet: bool):
    def report(stage: str, fraction: float) -> None:
        if not quiet:
            print(f"\r[{fraction * 100:3.0f}%] {stage}\033[K", end="\n" if fraction >= 1 else "", file=sys.stderr,
                  flush=True)
    return report


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--profile", default=None,
                   help="demo (built in, no download), tiny (random test model), or a catalog profile name")
    g.add_argument("--llm", type=Path, help="base LLM folder (Hugging Face LLaMA / Vicuna)")
    g.add_argument("--adapter", type=Path, help="LTU-AS adapter or full fine-tune .bin")
    g.add_argument("--whisper", type=Path, help="Whisper checkpoint for audio features (large-v1.pt)")
    g.add_argument("--asr-whisper", type=Path, help="Whisper checkpoint for transcripts (large-v2.pt)")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16", "int8", "nf4"])
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_generation_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation (defaults: the authors' demo)")
    g.add_argument("--temperature", type=float, default=DEFAULTS["temperature"], help="0 = greedy")
    g.add_argument("--top-p", type=float, default=DEFAULTS["top_p"])
    g.add_argument("--top-k", type=int, default=DEFAULTS["top_k"])
    g.add_argument("--repetition-penalty", type=float, default=DEFAULTS["repetition_penalty"])
    g.add_argument("--max-new-tokens", type=int, default=DEFAULTS["max_new_tokens"])
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--window", type=float, default=0.0, metavar="START",
                   help="start (s) of the window the model hears; the transcript covers the whole clip")
    g.add_argument("--mode", default="joint", choices=["joint", "audio", "transcript"])


def resolve_profile(args: argparse.Namespace, progress):
    from ..models.profiles import resolve_profile as resolve

    return resolve(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper, progress)


def settings_from(args: argparse.Namespace):
    from ..engine.types import GenerationSettings

    return GenerationSettings(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                              repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
                              seed=args.seed, mode=args.mode)


def add_scale_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("feature files, many GPUs and machines")
    g.add_argument("--features", type=Path, metavar="DIR",
                   help="folder of Whisper feature files (<audio name>.npz with arr_0) used in place of the audio")
    g.add_argument("--ray", metavar="auto|local|ADDRESS",
                   help="spread the items over Ray actors, one engine per GPU: local (start Ray here), auto (the "
                        "cluster this machine joined) or a cluster address (pip install 'ltu-desktop[cluster]')")
    g.add_argument("--cpus-per-worker", type=int, default=4, help="cores per engine on CPU-only Ray clusters")
    g.add_argument("--workers", type=int, default=None, help="number of engines (default: one per GPU)")


def item_answerer(args: argparse.Namespace, base: Path):
    """The profile, and how items get answered: by engines on a Ray cluster with --ray, else by one engine here."""
    from ..batch.runner import local_answer

    settings = settings_from(args)
    if args.ray:
        if importlib.util.find_spec("ray") is None:
            from ..engine.types import EngineError

            raise EngineError("--ray needs Ray: pip install 'ltu-desktop[cluster]'.")
        from ..evaluation.ray_runner import ray_answer

        profile = resolve_profile(args, progress_printer(args.quiet))
        return profile, ray_answer(args.ray, profile, args.device, args.precision, base, settings, args.window,
                                   args.features, args.cpus_per_worker, args.workers, args.quiet)
    engine = load_engine(args)
    return engine.profile, local_answer(engine, base, settings, args.window, args.features)


def load_engine(args: argparse.Namespace):
    from ..engine.engine import Engine

    progress = progress_printer(args.quiet)
    profile = resolve_profile(args, progress)
    if not args.quiet and (profile.kind == "demo" or profile.name == "tiny"):
        print(f"Model: {profile.describe()}", file=sys.stderr)
    engine = Engine.load(profile, device=args.device, precision=args.precision, progress=progress)
    for note in engine.notes:
        print(f"note: {note}", file=sys.stderr)
    return engine
