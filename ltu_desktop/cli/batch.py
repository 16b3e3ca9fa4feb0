"""`ltu-desktop batch --input Q.json --output A.json`: answer an OpenASQA-format list, resumably."""

from __future__ import annotations

import argparse
import sys
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
    """The input is read and every item checked, and the output tested, before the model loads (minutes)."""
    from ..batch.runner import item_problem, local_answer, prepare, run_items

    items = prepare(args.input, args.output)
    bad = sum(item_problem(item) is not None for item in items)
    if bad and not args.quiet:
        print(f"note: {bad} of {len(items)} item(s) are malformed; they get an `error` and the rest run.",
              file=sys.stderr)
    base = args.input.resolve().parent
    answer = item_answerer(args, base)[1] if bad < len(items) else local_answer(None, base, None)
    return run_items(items, args.output, answer, resume=args.resume, quiet=args.quiet)
