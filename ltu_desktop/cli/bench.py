"""`ltu-desktop bench`: stage-by-stage timings written to bench.json and bench.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_model_args, progress_printer, ranged


def _numbers(kind: type, low: float):
    """A comma-separated list of numbers, each at least `low` (e.g. 10,50,100)."""
    one = ranged(kind, low)

    def parse(text: str) -> str:
        for part in text.split(","):
            if part.strip():
                one(part.strip())
        return text
    return parse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="measure load, features, transcript, first token and decode speed")
    p.add_argument("--clip", type=Path, default=None, help="audio file (default: the sample clip in resources/)")
    p.add_argument("--questions", type=ranged(int, 1, 5), default=3, help="questions asked about the clip (1-5)")
    p.add_argument("--max-new-tokens", type=ranged(int, 1, 100_000), default=40)
    p.add_argument("--lengths", type=_numbers(int, 1), default="10,50,100",
                   help="answer lengths (tokens) for the growth rows")
    p.add_argument("--clip-seconds", type=_numbers(float, 1), default="5,60,300",
                   help="clip lengths for the transcript growth rows")
    p.add_argument("--layers", type=ranged(int, 1, 256), default=32,
                   help="synthetic-7b / synthetic-ltu: decoder layers (32 = full size)")
    p.add_argument("--transcript-full-size", type=ranged(int, 0, 448), default=0, metavar="TOKENS",
                   help="also time the transcript stage on a random full-size Whisper large-v2 in each backend "
                        "(one 30 s window + TOKENS greedy tokens; needs ~12 GB)")
    p.add_argument("--asr-set", type=Path, default=None, metavar="FOLDER",
                   help="transcript rows over a test set: audio files with same-named .txt references "
                        "(resources/make_asr_set.sh makes one with espeak-ng)")
    p.add_argument("--save-files", type=Path, default=None, metavar="DIR",
                   help="synthetic-7b: write it as the released files (LLaMA folder, adapter .bin, Whisper .pt; "
                        "fp16, ~6.6 GB at 8 layers) to DIR, or reuse those there, and bench from the files")
    p.add_argument("--save-format", choices=["bin", "safetensors"], default="bin",
                   help="--save-files' LLM weights: .bin shards as the release ships them (default), or safetensors")
    p.add_argument("--authors", type=Path, default=None, metavar="PYTHON",
                   help="then time the authors' own pipeline (their forks, fp32) on the same files, clip, questions "
                        "and sampling, and print both side by side; PYTHON is the venv scripts/authors_venv.sh built")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run (CI): few tokens, no growth rows")
    p.add_argument("--agreement", default="", metavar="PRECISIONS",
                   help="also compare greedy answers of these precisions (e.g. bf16,int8,nf4) with fp32")
    p.add_argument("--serve", action="store_true",
                   help="measure the local API instead: p50/p95 latency and answers per minute for 1, 4 and 8 "
                        "concurrent clients (--questions per client)")
    p.add_argument("--train-steps", type=int, default=0, metavar="N",
                   help="instead: fine-tuning samples/s and peak memory over N steps on synthetic-7b (default), "
                        "synthetic-ltu or the --profile")
    p.add_argument("--micro-batch-size", type=int, default=4, help="with --train-steps: items per step")
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for bench.json and bench.md")
    add_model_args(p)
    p.set_defaults(func=run)
    return p


def check_out(folder: Path) -> None:
    """The results folder must be writable before minutes of measuring, not after."""
    from ..engine.types import EngineError

    if folder.exists() and not folder.is_dir():
        raise EngineError(f"--out {folder} is a file; give a folder for bench.json and bench.md.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".bench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise EngineError(f"--out {folder} cannot be written: {exc.strerror or exc}.") from None


def run(args: argparse.Namespace) -> int:
    if args.serve:
        from ..bench.serve import run_serve_bench

        return run_serve_bench(args, progress_printer(args.quiet))
    if args.train_steps:
        from ..bench.training import run_train_bench

        return run_train_bench(args, progress_printer(args.quiet))
    from ..bench.runner import run_bench

    check_out(args.out)

    return run_bench(args, progress_printer(args.quiet))
