"""`ltu-desktop eval`: the authors' eval JSON -> answers to the task's fixed question -> scores -> report."""

from __future__ import annotations

import sys
from pathlib import Path

from ..batch.runner import Answerer, read_items, run_items
from ..engine.types import EngineError
from . import report
from .scoring import TextEmbedder, score
from .tasks import Task


def task_items(task: Task, data: Path) -> list[dict]:
    """Every item asks the task's fixed question, as the authors' batch script does; `input` and `output` stay."""
    items = read_items(data)
    for n, item in enumerate(items):
        if not isinstance(item, dict) or "output" not in item:
            raise EngineError(f"{data}: item {n} has no `output` (the reference answer) to score against.")
    return [{**item, "instruction": task.prompt} for item in items]


def run_eval(task: Task, data: Path, out_dir: Path, answer: Answerer | None, *, family: str, model: str,
             scorer: Path | None = None, labels: Path | None = None, predictions: Path | None = None,
             resume: bool = False, quiet: bool = False) -> int:
    """Answers go to `<task>_predictions.json` (resumable like `batch`); scores to `<task>.json` and `<task>.md`.
    With `predictions` an existing answers file (for example the authors' own outputs) is scored as it is."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    label_set = task.labels(labels)
    code = 0
    if predictions is None:
        predictions = out_dir / f"{task.name}_predictions.json"
        code = run_items(task_items(task, data), predictions, answer, resume, quiet)
    rows = read_items(predictions)
    embed = TextEmbedder(scorer) if scorer is not None and task.kind == "labels" else None
    scored = score(task, rows, label_set, embed)
    info = {"model": model, "data": str(data) if data else None, "predictions": str(predictions),
            "scorer": str(scorer) if scorer else None, "labels": label_set}
    result = report.build(task, family, scored, info)
    report.write(result, out_dir / f"{task.name}.json", out_dir / f"{task.name}.md")
    print(report.markdown(result))
    if not quiet:
        print(f"Scores in {out_dir / (task.name + '.json')} and {out_dir / (task.name + '.md')}", file=sys.stderr)
    return code
