"""`ltu-desktop`: the GUI by default; ask, transcribe, batch, models, history and bench over the same engine."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path

DEFAULTS = dict(temperature=0.1, top_p=0.95, top_k=500, repetition_penalty=1.1, max_new_tokens=500)


def _progress_printer(quiet: bool):
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
                   help="start (s) of the 10 s window the model hears; the transcript covers the whole clip")
    g.add_argument("--mode", default="joint", choices=["joint", "audio", "transcript"])


def resolve_profile(args: argparse.Namespace, progress):
    from .engine.profiles import demo_profile, profile_from_paths
    from .engine.types import EngineError

    if args.llm or args.adapter or args.whisper:
        missing = [n for n, v in (("--llm", args.llm), ("--adapter", args.adapter), ("--whisper", args.whisper))
                   if v is None]
        if missing:
            raise EngineError(f"An LTU-AS model needs {', '.join(missing)} as well (see `ltu-desktop models`).")
        return profile_from_paths(args.llm, args.adapter, args.whisper, args.asr_whisper or args.whisper)
    name = args.profile or os.environ.get("LTU_DESKTOP_PROFILE") or "demo"
    if name == "demo":
        return demo_profile(progress)
    if name == "tiny":
        from .testing import make_tiny_profile
        from .paths import cache_dir

        return make_tiny_profile(cache_dir() / "tiny")
    from .catalog import profile_by_name

    return profile_by_name(name)


def settings_from(args: argparse.Namespace):
    from .engine.types import GenerationSettings

    return GenerationSettings(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k,
                              repetition_penalty=args.repetition_penalty, max_new_tokens=args.max_new_tokens,
                              seed=args.seed, mode=args.mode)


def load_engine(args: argparse.Namespace):
    from .engine.engine import Engine

    progress = _progress_printer(args.quiet)
    profile = resolve_profile(args, progress)
    if not args.quiet and (profile.kind == "demo" or profile.name == "tiny"):
        print(f"Model: {profile.describe()}", file=sys.stderr)
    engine = Engine.load(profile, device=args.device, precision=args.precision, progress=progress)
    for note in engine.notes:
        print(f"note: {note}", file=sys.stderr)
    return engine


def cmd_ask(args: argparse.Namespace) -> int:
    from .audio.io import load_audio

    audio = load_audio(args.audio)
    engine = load_engine(args)
    clip = engine.prepare(audio, (args.window, args.window + 10))
    settings = settings_from(args)
    stop = threading.Event()
    try:
        for piece in engine.answer(clip, args.question, transcript=args.transcript, settings=settings, stop=stop):
            if not args.json:
                print(piece, end="", flush=True)
    except KeyboardInterrupt:
        stop.set()
    answer = engine.last_answer
    if args.json:
        print(json.dumps({"audio_id": str(args.audio), "instruction": args.question,
                          "input": answer.transcript_used, "pred": answer.text, "pred_ids": answer.token_ids,
                          "window": list(clip.window), "profile": engine.profile.name,
                          "stopped": answer.stopped, "stats": answer.stats.to_dict()}, indent=1))
    else:
        print()
        st = answer.stats
        if not args.quiet:
            print(f"[{engine.profile.name} | {st.device} {st.precision} | first token {st.first_token_s:.2f}s | "
                  f"{st.tokens_per_s:.1f} tok/s | {st.new_tokens} tokens | window {clip.window[0]:.1f}-"
                  f"{clip.window[1]:.1f}s]", file=sys.stderr)
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .audio.io import load_audio

    audio = load_audio(args.audio)
    engine = load_engine(args)
    t = engine.transcribe(audio)
    if args.json:
        print(json.dumps({"audio_id": str(args.audio), "text": t.text, "language": t.language,
                          "no_speech": t.no_speech,
                          "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in t.segments]},
                         indent=1))
    else:
        for s in t.segments:
            print(f"[{s.start:7.2f} -> {s.end:7.2f}] {s.text}")
        if not t.segments:
            print("(no speech)")
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import run_batch

    engine = load_engine(args)
    return run_batch(engine, args.input, args.output, settings_from(args), resume=args.resume,
                     window_start=args.window, quiet=args.quiet)


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    return run_bench(args)


def cmd_gui(args: argparse.Namespace, rest: list[str]) -> int:
    from .ui.app import run_gui

    return run_gui(rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltu-desktop", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("gui", help="start the desktop app (the default)", add_help=False)

    p = sub.add_parser("ask", help="ask a question about an audio file; the answer streams to stdout")
    p.add_argument("audio", type=Path)
    p.add_argument("question")
    p.add_argument("--transcript", default=None, help="use this text as the transcript instead of Whisper's")
    p.add_argument("--json", action="store_true")
    add_model_args(p)
    add_generation_args(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("transcribe", help="Whisper transcript with timed segments")
    p.add_argument("audio", type=Path)
    p.add_argument("--json", action="store_true")
    add_model_args(p)
    p.set_defaults(func=cmd_transcribe)

    p = sub.add_parser("batch", help="answer an OpenASQA-format JSON list of questions")
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="skip items already in the output file")
    add_model_args(p)
    add_generation_args(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("bench", help="measure load, features, transcript, first token and decode speed")
    from .bench import add_bench_args

    add_bench_args(p)
    add_model_args(p)
    p.set_defaults(func=cmd_bench)

    for hook in (_models_hook, _history_hook):
        hook(sub)
    return parser


def _models_hook(sub) -> None:
    from .catalog import add_models_parser
    from .engine.checkpoints import validate_file

    add_models_parser(sub, validate=validate_file)


def _history_hook(sub) -> None:
    from .store.cli import add_history_parser

    add_history_parser(sub)


def _is_gui(argv: list[str]) -> bool:
    """No subcommand means the app: `ltu-desktop`, `ltu-desktop clip.wav`, `ltu-desktop --theme dark`."""
    if not argv or argv[0] == "gui":
        return True
    return Path(argv[0]).is_file() or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_gui(argv):
        return cmd_gui(argparse.Namespace(), argv[1:] if argv and argv[0] == "gui" else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .audio.io import AudioError
    from .engine.types import EngineError

    try:
        return args.func(args)
    except (AudioError, EngineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
