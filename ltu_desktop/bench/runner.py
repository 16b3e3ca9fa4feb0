"""`ltu-desktop bench`: where a person's wait goes, stage by stage, written as JSON and a Markdown table.

Everything is measured in one process, so ratios between rows (cold vs warm load, first vs second
question, decode vs the memory-bandwidth bound) hold on a noisy machine; absolute times are what this
machine did today. Decode on a CPU is bound by bytes of weights read per token, so it is reported as a
percentage of weight-bytes / measured copy bandwidth.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
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
TARGETS = {"features_s": 3.0, "second_first_token_ratio": 0.5, "decode_bound_pct_int8": 50.0}


def sample_clip() -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "sample_meeting.wav"


def _timed(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def memory_bandwidth_gbs(mb: int = 512, repeats: int = 5) -> float:
    """Best of a few large copies: bytes read + written per second, the ceiling a memory-bound decode meets."""
    import torch

    a = torch.ones(mb * 2**18, dtype=torch.float32)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        b.copy_(a)
        best = min(best, time.perf_counter() - t0)
    return 2 * a.numel() * 4 / best / 1e9


def weight_bytes_per_token(engine) -> float:
    """Bytes of LLM weights a decode step reads: linear layers at the plan's bytes per weight, plus the head."""
    from ..engine.precision import BYTES_PER_WEIGHT, llm_parameters

    cfg = engine.lm.llm.config
    linear, _ = llm_parameters({k: getattr(cfg, k) for k in (
        "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size")} | {"tie_word_embeddings": getattr(cfg, "tie_word_embeddings", False)})
    return linear * BYTES_PER_WEIGHT[engine.plan.precision]


def _profile(args, progress):
    from ..models.profiles import resolve_profile

    return resolve_profile(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper, progress)


def _load(args, progress):
    from ..engine.engine import Engine
    from ..engine.precision import plan

    if args.profile in ("synthetic-7b", "synthetic-ltu"):
        from .synthetic import build_engine, build_ltu_engine

        p = plan(args.device, args.precision)
        build = build_engine if args.profile == "synthetic-7b" else build_ltu_engine
        engine, t_cold = _timed(lambda: build(p, args.layers, progress))
        return engine, 0.0, t_cold, None
    profile, t_assets = _timed(lambda: _profile(args, progress))
    engine, t_cold = _timed(lambda: Engine.load(profile, args.device, args.precision, progress))
    del engine
    gc.collect()  # the cold engine must be gone before the warm one loads, or the peak counts both
    engine, t_warm = _timed(lambda: Engine.load(profile, args.device, args.precision))
    return engine, t_assets, t_cold, t_warm


def _ask(engine, clip, question, settings, transcript=None) -> dict:
    t0 = time.perf_counter()
    for _ in engine.answer(clip, question, transcript=transcript, settings=settings):
        pass
    a = engine.last_answer
    return {"question": question, "answer": a.text, "total_s": round(time.perf_counter() - t0, 3),
            **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in a.stats.to_dict().items()}}


def run_bench(args: argparse.Namespace, progress) -> int:
    import numpy as np
    import torch

    from ..audio.io import from_array, load_audio
    from ..engine.engine import peak_memory_mb
    from ..engine.types import GenerationSettings

    if args.quick:
        args.profile = args.profile or "tiny"
    args.profile = args.profile or "demo"
    bandwidth = memory_bandwidth_gbs(128 if args.quick else 1024)
    engine, t_assets, t_cold, t_warm = _load(args, progress)
    clip_path = args.clip or sample_clip()
    audio, t_audio = _timed(lambda: load_audio(clip_path))
    stages = {"assets": t_assets, "load_cold": t_cold, "load_warm": t_warm, "audio_load": t_audio}
    transcript = None
    if engine.transcriber is not None:
        transcript, stages["transcript"] = _timed(lambda: engine.transcribe(audio))
    text_input = None if transcript is not None else "Hello team, the meeting moves to Thursday at three thirty."
    if engine.lm.front is not None:
        feats, stages["features"] = _timed(lambda: engine.lm.front.features(audio, 0.0))
        _, stages["audio_tokens"] = _timed(lambda: engine.lm.audio_tokens(feats))
    clip, stages["prepare"] = _timed(lambda: engine.prepare(audio, None, transcript))
    n_new = 8 if args.quick else args.max_new_tokens
    settings = GenerationSettings(temperature=0.0, max_new_tokens=n_new, repetition_penalty=1.1)
    n_q = 2 if args.quick else max(1, min(args.questions, len(QUESTIONS)))
    asked = [_ask(engine, clip, q, settings, text_input) for q in QUESTIONS[:n_q]]

    growth_answer, growth_clip = [], []
    if not args.quick:
        for n in (int(x) for x in args.lengths.split(",") if x):
            s = GenerationSettings(temperature=0.0, max_new_tokens=n, repetition_penalty=1.0)
            row = _ask(engine, clip, "Describe the recording in detail.", s, text_input)
            growth_answer.append({k: row[k] for k in ("max_new_tokens", "new_tokens", "first_token_s", "tokens_per_s",
                                                      "total_s") if k in row} | {"max_new_tokens": n})
        if engine.transcriber is not None:
            for seconds in (float(x) for x in args.clip_seconds.split(",") if x):
                reps = int(np.ceil(seconds / audio.duration))
                long = from_array(np.tile(audio.samples, reps)[: int(seconds * 16000)], source=f"{seconds:.0f} s")
                _, t_asr = _timed(lambda: engine.transcribe(long))
                _, t_feat = _timed(lambda: engine.prepare(long, None, engine.transcribe(long)))
                growth_clip.append({"clip_s": seconds, "transcript_s": round(t_asr, 3), "features_s": round(t_feat, 3)})

    decode_tps = max((q["tokens_per_s"] for q in asked), default=0.0)
    bound_tps = bandwidth * 1e9 / weight_bytes_per_token(engine)
    estimate = getattr(engine, "memory_estimate", None)
    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
                    "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                    "memory_bandwidth_gbs": round(bandwidth, 2)},
        "profile": engine.profile.name, "label": engine.profile.describe(), "device": engine.device,
        "precision": engine.precision, "clip": str(clip_path), "clip_seconds": round(audio.duration, 2),
        "stages_s": {k: round(v, 4) for k, v in stages.items() if v is not None},
        "questions": asked,
        "growth_answer_length": growth_answer, "growth_clip_length": growth_clip,
        "decode": {"tokens_per_s": round(decode_tps, 2), "bound_tokens_per_s": round(bound_tps, 2),
                   "percent_of_bound": round(100 * decode_tps / bound_tps, 1) if bound_tps else None,
                   "weight_gb_per_token": round(weight_bytes_per_token(engine) / 1e9, 3)},
        "memory_mb": {"peak_measured": round(peak_memory_mb(engine.plan.device), 1),
                      "estimated": round(estimate.total_mb, 1) if estimate else None},
        "targets": _targets(stages, asked, decode_tps, bound_tps, engine.precision),
        "agreement_with_fp32": _agreement(args, engine, audio, text_input or (transcript.text if transcript else ""),
                                          progress),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    (args.out / "bench.md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}", file=sys.stderr)
    return 0


def _agreement(args, engine, audio, transcript: str, progress) -> list[dict]:
    """Each named precision against an fp32 engine of the same profile, loaded one at a time."""
    from ..engine.engine import Engine
    from .quality import agreement

    wanted = [p for p in args.agreement.split(",") if p and p != "fp32"]
    if not wanted:
        return []
    if args.profile in ("synthetic-7b", "synthetic-ltu"):
        raise SystemExit(f"--agreement needs trained weights (demo, tiny or real checkpoints), not {args.profile}.")
    profile = _profile(args, progress)
    reference = engine if engine.precision == "fp32" else Engine.load(profile, args.device, "fp32")
    rows = []
    for precision in wanted:
        progress(f"Comparing {precision} with fp32", -1.0)
        other = engine if engine.precision == precision else Engine.load(profile, args.device, precision)
        rows.append(agreement(reference, other, audio, list(QUESTIONS), transcript).to_dict())
        del other
    return rows


def _targets(stages: dict, asked: list[dict], decode: float, bound: float, precision: str) -> list[str]:
    """Each target with met / missed and by how much, so a miss is visible in the output itself."""
    out = []
    if "features" in stages:
        t = stages["features"]
        out.append(f"10 s window features {t:.2f} s (target < {TARGETS['features_s']} s): "
                   + ("met" if t < TARGETS["features_s"] else f"missed by {t - TARGETS['features_s']:.2f} s"))
    if len(asked) >= 2 and asked[0]["first_token_s"] > 0:
        r = asked[1]["first_token_s"] / asked[0]["first_token_s"]
        out.append(f"second question's first token = {r:.2f} x the first's (target <= 0.5): "
                   + ("met" if r <= 0.5 else f"missed by {r - 0.5:.2f}"))
    if precision == "int8" and bound:
        pct = 100 * decode / bound
        out.append(f"int8 decode at {pct:.0f}% of the bandwidth bound (target >= 50%): "
                   + ("met" if pct >= 50 else f"missed by {50 - pct:.0f} points"))
    return out


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"Profile `{r['profile']}` on {r['device']} {r['precision']}: {m['cpus']} CPUs ({m['threads']} threads)"
        f"{', ' + m['gpu'] if m['gpu'] else ''}, torch {m['torch']}, copy bandwidth {m['memory_bandwidth_gbs']} GB/s,"
        f" {r['date']}",
        "",
        "| stage | seconds |",
        "| --- | --- |",
    ]
    names = {"assets": "model files ready (conversion on first run)", "load_cold": "load, cold",
             "load_warm": "load, warm", "audio_load": f"audio load + resample ({r['clip_seconds']} s clip)",
             "transcript": "transcript (Whisper, whole clip)",
             "features": "audio features of one window (front end)", "audio_tokens": "audio tokens (projection)",
             "prepare": "prepare through the engine (window features, cached from then on)"}
    lines += [f"| {names.get(k, k)} | {v:.3f} |" for k, v in r["stages_s"].items()]
    lines += ["", "| question | prompt tokens | reused prefix | first token (s) | tokens | tok/s | whole answer (s) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, q in enumerate(r["questions"], 1):
        lines.append(f"| {i} | {q['prompt_tokens']} | {q['reused_prefix_tokens']} | {q['first_token_s']:.3f} | "
                     f"{q['new_tokens']} | {q['tokens_per_s']:.1f} | {q['total_s']:.2f} |")
    if r["growth_answer_length"]:
        lines += ["", "| answer length (max new tokens) | generated | first token (s) | tok/s | whole answer (s) |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {g['max_new_tokens']} | {g['new_tokens']} | {g['first_token_s']:.3f} | {g['tokens_per_s']:.1f} | "
                  f"{g['total_s']:.2f} |" for g in r["growth_answer_length"]]
    if r["growth_clip_length"]:
        lines += ["", "| clip length (s) | transcript (s) | features, one window (s) |", "| --- | --- | --- |"]
        lines += [f"| {g['clip_s']:.0f} | {g['transcript_s']:.2f} | {g['features_s']:.3f} |"
                  for g in r["growth_clip_length"]]
    d, mem = r["decode"], r["memory_mb"]
    lines += ["", f"Decode: {d['tokens_per_s']} tok/s; bound {d['bound_tokens_per_s']} tok/s "
                  f"({d['weight_gb_per_token']} GB of weights per token) = {d['percent_of_bound']}% of the bound.",
              f"Peak memory: {mem['peak_measured']:.0f} MB measured"
              + (f", {mem['estimated']:.0f} MB estimated before loading." if mem["estimated"] else "."), ""]
    if r.get("agreement_with_fp32"):
        lines += ["", "| precision | same first token | free-running agreement | forced agreement |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {a['precision']} | {a['first_token']:.2f} | {a['free_running']:.2f} | {a['forced']:.2f} |"
                  for a in r["agreement_with_fp32"]]
        lines += ["", f"Greedy answers to {r['agreement_with_fp32'][0]['questions']} questions against fp32; "
                      "forced = the other precision's pick after the fp32 answer's own earlier tokens.", ""]
    lines += [f"- {t}" for t in r["targets"]]
    return "\n".join(lines) + "\n"
