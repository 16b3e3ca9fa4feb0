"""`ltu-desktop batch --input Q.json --output A.json`: answer an OpenASQA-format list, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_generation_args, add_model_args, load_engine, settings_from


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="answer an OpenASQA-format JSON list of questions")
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="skip items already in the output file")
    add_model_args(p)
    add_generation_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..batch.runner import run_batch

    engine = load_engine(args)
    return run_batch(engine, args.input, args.output, settings_from(args), resume=args.resume,
                     window_start=args.window, quiet=args.quiet)
