"""`ltu-desktop batch --input Q.json --output A.json`: answer an OpenASQA-format list, resumably."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_generation_args, add_model_args, add_scale_args, item_answerer


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("batch", help="answer an OpenASQA-format JSON list of questions")
    p.add_argument("--input", type=Path, required=True)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="skip items already in the output file")
    add_model_args(p)
    add_generation_args(p)
    add_scale_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..batch.runner import read_items, run_items

    items = read_items(args.input)
    _, answer = item_answerer(args, args.input.resolve().parent)
    return run_items(items, args.output, answer, resume=args.resume, quiet=args.quiet)
