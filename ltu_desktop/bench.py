"""`ltu-desktop bench`: where a person's wait goes, stage by stage, written as JSON and a Markdown table.

Each number is measured in one process, so ratios between rows (cold vs warm load, first vs second
question) are meaningful even on a noisy machine; absolute times are what this machine did today.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

QUESTIONS = (
    "What is said in this recording?",
    "Who is speaking and what do they want?",
    "Summarize the recording in one sentence.",
    "What is the speaker's emotion?",
    "What can be inferred from the spoken text and sounds? Why?",
)


def add_bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", type=Path, default=None, help="audio file (default: the sample clip in resources/)")
    p.add_argument("--questions", type=int, default=3, help="questions asked about the clip (1-5)")
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--out", type=Path, default=Path("bench-results"), help="folder for bench.json and bench.md")


def sample_clip() -> Path:
    return Path(__file__).resolve().parent.parent / "resources" / "sample_meeting.wav"


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def run_bench(args: argparse.Namespace) -> int:
    import torch

    from .audio.io import load_audio
    from .cli import _progress_printer, resolve_profile
    from .engine.engine import Engine, peak_memory_mb
    from .engine.types import GenerationSettings

    progress = _progress_printer(args.quiet)
    profile, t_assets = _timed(lambda: resolve_profile(args, progress))
    engine, t_cold = _timed(lambda: Engine.load(profile, args.device, args.precision, progress))
    del engine
    engine, t_warm = _timed(lambda: Engine.load(profile, args.device, args.precision))
    clip_path = args.clip or sample_clip()
    audio, t_audio = _timed(lambda: load_audio(clip_path))
    transcript, t_asr = (None, 0.0)
    if engine.transcriber is not None:
        transcript, t_asr = _timed(lambda: engine.transcribe(audio))
    clip, t_features = _timed(lambda: engine.prepare(audio, None, transcript))
    settings = GenerationSettings(temperature=0.0, max_new_tokens=args.max_new_tokens, repetition_penalty=1.1)
    asked = []
    for q in QUESTIONS[: max(1, min(args.questions, len(QUESTIONS)))]:
        t0 = time.perf_counter()
        for _ in engine.answer(clip, q, settings=settings):
            pass
        a = engine.last_answer
        asked.append({"question": q, "answer": a.text, "total_s": round(time.perf_counter() - t0, 3),
                      **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in a.stats.to_dict().items()}})
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
        "profile": profile.name, "label": profile.describe(), "device": engine.device, "precision": engine.precision,
        "clip": str(clip_path), "clip_seconds": round(audio.duration, 2),
        "stages_s": {"assets": round(t_assets, 3), "load_cold": round(t_cold, 3), "load_warm": round(t_warm, 3),
                     "audio_load": round(t_audio, 4), "transcript": round(t_asr, 3),
                     "features": round(t_features, 3)},
        "questions": asked,
        "peak_memory_mb": round(peak_memory_mb(engine.plan.device), 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    (args.out / "bench.md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}", file=sys.stderr)
    return 0


def markdown(r: dict) -> str:
    s = r["stages_s"]
    lines = [
        f"Profile `{r['profile']}` on {r['device']} {r['precision']}, {r['machine']['cpus']} CPUs"
        f"{', ' + r['machine']['gpu'] if r['machine']['gpu'] else ''}, torch {r['machine']['torch']}, {r['date']}",
        "",
        "| stage | seconds |",
        "| --- | --- |",
        f"| model files ready (conversion on first run) | {s['assets']:.2f} |",
        f"| load, cold | {s['load_cold']:.2f} |",
        f"| load, warm | {s['load_warm']:.2f} |",
        f"| audio load + resample ({r['clip_seconds']} s clip) | {s['audio_load']:.3f} |",
        f"| transcript (Whisper) | {s['transcript']:.2f} |",
        f"| audio features (10 s window) | {s['features']:.2f} |",
        "",
        "| question | first token (s) | tokens | tok/s | whole answer (s) | reused prefix tokens |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i, q in enumerate(r["questions"], 1):
        lines.append(f"| {i} | {q['first_token_s']:.3f} | {q['new_tokens']} | {q['tokens_per_s']:.1f} | "
                     f"{q['total_s']:.2f} | {q['reused_prefix_tokens']} |")
    lines += ["", f"Peak memory: {r['peak_memory_mb']:.0f} MB", ""]
    return "\n".join(lines)
