"""`ltu-desktop eval`: score a model on a closed-ended benchmark of the papers, as the authors did."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_generation_args, add_model_args, add_scale_args, item_answerer


def add_parser(sub) -> argparse.ArgumentParser:
    from ..evaluation.tasks import TASKS

    p = sub.add_parser("eval", help="reproduce the papers' closed-ended benchmark numbers",
                       description="Ask every item of an eval JSON (the authors' files, with audio or their "
                                   "feature files) the task's fixed question, map the answers to labels and score "
                                   "them as the authors' scripts do; writes JSON and a Markdown table with the "
                                   "paper's numbers beside ours.")
    p.add_argument("--task", required=True, help="one of: " + ", ".join(TASKS))
    p.add_argument("--data", type=Path, help="the eval JSON (audio_id, input, output)")
    p.add_argument("--output", type=Path, default=Path("eval-results"), help="folder for predictions and scores")
    p.add_argument("--scorer", type=Path, metavar="DIR",
                   help="local text-embedding model (BERT-style or sentence-transformers folder) that maps free "
                        "answers to labels; the authors used bert-large-uncased")
    p.add_argument("--labels", type=Path, help="replace the task's label set (one a line, or the authors' CSV)")
    p.add_argument("--predictions", type=Path, help="score this answers file (pred, ref) without running a model")
    p.add_argument("--resume", action="store_true", help="keep the answers already in the predictions file")
    add_model_args(p)
    add_generation_args(p)
    add_scale_args(p)
    # The authors' eval runs: their demo's sampling settings, at most 400 new tokens.
    p.set_defaults(func=run, max_new_tokens=400)
    return p


def run(args: argparse.Namespace) -> int:
    from ..engine.types import EngineError
    from ..evaluation.runner import run_eval
    from ..evaluation.tasks import task_by_name

    task = task_by_name(args.task)
    if args.predictions is None and args.data is None:
        raise EngineError("eval needs --data (an eval JSON), or --predictions to score answers already made.")
    if args.scorer is not None and not args.scorer.is_dir():
        raise EngineError(f"--scorer {args.scorer} is not a folder with a text-embedding model.")
    if task.kind == "labels" and args.scorer is None and not args.quiet:
        print("note: without --scorer only answers that are exactly a label can be scored; the answers are kept, "
              "so a second run with --scorer and --resume scores them without asking again.", file=sys.stderr)
    answer, family, model = None, "ltu-as", "answers from " + str(args.predictions)
    if args.predictions is None:
        profile, answer = item_answerer(args, args.data.resolve().parent)
        family, model = profile.kind, profile.describe()
    return run_eval(task, args.data, args.output, answer, family=family, model=model, scorer=args.scorer,
                    labels=args.labels, predictions=args.predictions, resume=args.resume, quiet=args.quiet)
