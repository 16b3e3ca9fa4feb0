"""`bench --authors PYTHON`: the authors' own pipeline timed on the same files, beside ours.

Their pipeline runs in its own venv (scripts/authors_venv.sh: their transformers / peft / whisper forks) as a
subprocess, tools/authors_pipeline.py, after our engine is gone: both at once would not fit on a 24 GB machine.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from ..engine.types import EngineError, GenerationSettings, Profile

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "authors_pipeline.py"


def settings(max_new_tokens: int, seed: int | None) -> GenerationSettings:
    """Their demo's sampling (temperature 0.1, top-p 0.95, top-k 500, repetition penalty 1.1), seeded."""
    return GenerationSettings(max_new_tokens=max_new_tokens, seed=0 if seed is None else seed)


def check(python: Path, profile: Profile) -> None:
    """Before minutes of measuring: the interpreter runs and the profile is LTU-AS files both pipelines read."""
    if profile.kind != "ltu-as" or not (profile.llm and profile.adapter and profile.feature_whisper):
        raise EngineError("--authors compares LTU-AS pipelines on the same files: give them with --llm, --adapter "
                          "and --whisper, or write synthetic-7b's with --profile synthetic-7b --save-files DIR.")
    if not SCRIPT.is_file():
        raise EngineError(f"--authors needs {SCRIPT} (it ships with the source tree, not the wheel).")
    probe = [str(python), "-c", "import utils.prompter, whisper, peft, transformers.models.llama.modeling_llama as m; "
                                "assert hasattr(m, 'ATModel')"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    except OSError as exc:
        raise EngineError(f"--authors {python}: {exc.strerror or exc}.") from None
    if done.returncode != 0:
        raise EngineError(f"--authors {python} is not the authors' venv (their forks of transformers, peft and "
                          "whisper): build one with scripts/authors_venv.sh DEST and pass DEST/bin/python.")


def run(python: Path, profile: Profile, samples, questions: list[str], transcript: str, max_new_tokens: int,
        seed: int | None, log: Path) -> dict:
    """Their pipeline on the profile's files and the same samples; its JSON, or an error naming the log."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.npy"
        np.save(clip, np.asarray(samples, dtype=np.float32))
        cmd = [str(python), str(SCRIPT), "--llm", str(profile.llm), "--adapter", str(profile.adapter),
               "--whisper", str(profile.feature_whisper), "--audio", str(clip), "--transcript", transcript,
               "--max-new-tokens", str(max_new_tokens), "--seed", str(0 if seed is None else seed)]
        cmd += [a for q in questions for a in ("--question", q)]
        with open(log, "w") as err:
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        raise EngineError(f"The authors' pipeline failed (exit {done.returncode}); see {log}: " + " | ".join(tail))
    return json.loads(lines[-1])


def side_by_side(ours: dict, theirs: dict) -> dict:
    """Per pipeline: features, first token and whole answer to questions 1 and 2, decode, peak memory.

    The whole answer counts from the question: theirs computes the window's features inside every answer, ours
    once per clip (its first answer includes that prepare; later ones reuse it)."""
    asked = ours["questions"]
    mine = {
        "features_s": ours["stages_s"].get("features"),
        "first_token_s": [q["first_token_s"] for q in asked[:2]],
        "tokens_per_s": round(sum(q["tokens_per_s"] for q in asked) / len(asked), 3),
        "answer_s": [ours["first_and_later"]["first"]["with_prepare_s"]] + [q["total_s"] for q in asked[1:2]],
        "new_tokens": [q["new_tokens"] for q in asked[:2]],
        "peak_mb": ours["memory_mb"]["peak_measured"],
    }
    done = theirs["questions"]
    other = {
        "features_s": theirs["features_s"],
        "first_token_s": [q["first_token_s"] for q in done[:2]],
        "tokens_per_s": round(sum(q["tokens_per_s"] for q in done) / len(done), 3),
        "answer_s": [q["total_s"] for q in done[:2]],
        "new_tokens": [q["new_tokens"] for q in done[:2]],
        "peak_mb": theirs["peak_rss_mb"],
    }

    def faster(a, b):
        return round(b / a, 2) if a and b else None

    ratio = {
        "features": faster(mine["features_s"], other["features_s"]),
        "first_token": [faster(a, b) for a, b in zip(mine["first_token_s"], other["first_token_s"])],
        "decode": round(mine["tokens_per_s"] / other["tokens_per_s"], 2) if other["tokens_per_s"] else None,
        "answer": [faster(a, b) for a, b in zip(mine["answer_s"], other["answer_s"])],
        "memory": round(mine["peak_mb"] / other["peak_mb"], 2) if other["peak_mb"] else None,
    }
    same = [a["token_ids"] == b["token_ids"] for a, b in zip(asked, done) if "token_ids" in a and "token_ids" in b]
    return {"ours": mine | {"label": f"ltu-desktop, {ours['device']} {ours['precision']}"},
            "theirs": other | {"label": "the authors' pipeline, cpu fp32"}, "ratio": ratio, "same_tokens": same}


def markdown(sbs: dict) -> str:
    def pair(values, fmt="{:.2f}") -> str:
        return " / ".join("-" if v is None else fmt.format(v) for v in values)

    lines = ["| pipeline | features (s) | first token, 1st / 2nd question (s) | decode (tok/s) "
             "| answer, 1st / 2nd question (s) | tokens | peak memory (GiB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key in ("theirs", "ours"):
        r = sbs[key]
        lines.append(f"| {r['label']} | {r['features_s']:.2f} | {pair(r['first_token_s'])} | {r['tokens_per_s']:.1f} | "
                     f"{pair(r['answer_s'])} | {pair(r['new_tokens'], '{}')} | {r['peak_mb'] / 1024:.1f} |")
    x = sbs["ratio"]
    lines.append(f"| ours vs theirs | {pair([x['features']], '{}x')} | {pair(x['first_token'], '{}x')} | "
                 f"{pair([x['decode']], '{}x')} | {pair(x['answer'], '{}x')} | | {pair([x['memory']], '{}x')} |")
    lines += ["", "Times: how many times faster ours is (their seconds / ours); decode: our tok/s / theirs; "
                  "memory: our peak / theirs (loading included). An answer counts from the question: theirs "
                  "computes the window's features in every answer, ours once per clip (in its 1st answer, cached "
                  "for the 2nd)."]
    if sbs.get("same_tokens"):
        lines += ["", f"The same tokens as theirs in {sum(sbs['same_tokens'])} of {len(sbs['same_tokens'])} answers "
                      "(same weights, features, prompt and sampling settings; their random numbers are not ours, so at "
                      "temperature 0.1 a near tie may still go either way)."]
    return "\n".join(lines) + "\n"

