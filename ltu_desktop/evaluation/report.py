"""The eval's two outputs: a JSON file with everything, and a Markdown table with the paper's numbers beside ours."""

from __future__ import annotations

import json
import math
from pathlib import Path

from .scoring import Scored
from .tasks import Task

UNITS = {"accuracy": "accuracy (%)", "macro_f1": "macro F1 (%)", "mAP": "mAP (%)", "mae": "MAE (years)",
         "wer": "WER (%)"}


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def build(task: Task, family: str, scored: Scored, info: dict) -> dict:
    paper = task.paper.get(family)
    return {"task": task.name, "title": task.title, "family": family, **info, "metrics": scored.metrics,
            "counts": scored.counts,
            "paper": {"metric": paper.metric, "value": paper.value, "source": paper.source} if paper else None,
            "items": scored.items}


def markdown(result: dict) -> str:
    paper = result.get("paper") or {}
    rows = ["| task | metric | ours | paper | paper's source |", "| --- | --- | --- | --- | --- |"]
    for metric, value in result["metrics"].items():
        theirs = paper.get("value") if paper.get("metric") == metric else None
        source = paper.get("source", "") if paper.get("metric") == metric else ""
        if paper.get("metric") == metric and theirs is None:
            theirs_text = "not checked here"
        else:
            theirs_text = _fmt(theirs)
        rows.append(f"| {result['title']} | {UNITS[metric]} | {_fmt(value)} | {theirs_text} | {source} |")
    c = result["counts"]
    notes = [f"{c['answered']} of {c['items']} items answered" + (f", {c['failed']} failed (not scored)"
                                                                 if c["failed"] else "")]
    if c.get("unparsed"):
        notes.append(f"{c['unparsed']} answer(s) without a number (not scored, as in the authors' script)")
    model = result.get("model", "")
    return (f"# {result['title']}: {model}\n\n" + "\n".join(rows) + "\n\n" + "; ".join(notes) + ".\n")


def write(result: dict, json_path: Path, md_path: Path) -> None:
    json_path.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    md_path.write_text(markdown(result))
