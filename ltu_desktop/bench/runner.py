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
import importlib.util
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
TARGETS = {"features_s": 3.0, "first_over_later_first_token": 1.2, "decode_bound_pct_int8": 50.0}


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


def cpu_peak_gflops(threads: int) -> tuple[float, str]:
    """fp32 FMA peak of the cores torch uses: threads x 2 FMA units x vector lanes x 2 flops x the clock.

    Two 256-bit (AVX2) or 512-bit (AVX-512) FMA units per core is what Zen 2-4 and Skylake-class server cores
    have; the clock is the one the kernel reports (a boost clock can exceed it, so this bound is not a ceiling
    that is never passed). Matrix units (AMX) and bf16 / int8 dot products are listed, not counted."""
    flags: set[str] = set()
    mhz = 0.0
    try:
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if key.strip() == "flags" and not flags:
                flags = set(value.split())
            elif key.strip() == "cpu MHz":
                mhz = max(mhz, float(value))
    except (OSError, ValueError):
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * (2 if "fma" in flags else 1)
    extra = sorted(f for f in flags if f.startswith(("amx", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx512_fp16")))
    peak = threads * per_cycle * mhz / 1000
    isa = "AVX-512" if lanes == 16 else "AVX2" if lanes == 8 else "SSE"
    return round(peak, 1), (f"{threads} cores x 2 FMA units x {lanes} fp32 lanes ({isa}) x 2 flops x {mhz / 1000:.2f} GHz"
                            f"; matrix / dot-product units: {', '.join(extra) or 'none'}")


def prefill_flops(cfg, positions: int) -> float:
    """Multiply-adds x 2 of a prefill of `positions` tokens: every linear layer per position, causal attention,
    and the head for the one position whose logits are kept."""
    h, layers = cfg.hidden_size, cfg.num_hidden_layers
    head_dim = getattr(cfg, "head_dim", None) or h // cfg.num_attention_heads
    kv = cfg.num_key_value_heads * head_dim
    per_layer = h * (cfg.num_attention_heads * head_dim) * 2 + h * kv * 2 + 3 * h * cfg.intermediate_size
    attention = 2 * layers * positions * (positions + 1) / 2 * cfg.num_attention_heads * head_dim * 2
    return 2.0 * (layers * per_layer * positions + h * cfg.vocab_size) + attention


def prefill_rate(engine, positions: int, repeats: int = 2) -> dict:
    """The best of a few prefills of a whole prompt's length into a fresh cache, as GFLOP/s."""
    embeds = engine.lm.embed([min(1, engine.lm.llm.config.vocab_size - 1)] * positions)
    best = float("inf")
    for _ in range(repeats):
        cache = engine.lm.new_cache()
        t0 = time.perf_counter()
        engine.lm.prefill(embeds, cache)
        best = min(best, time.perf_counter() - t0)
    flops = prefill_flops(engine.lm.llm.config, positions)
    return {"positions": positions, "seconds": round(best, 4), "gflops": float(f"{flops / 1e9:.3g}"),
            "gflop_per_s": float(f"{flops / best / 1e9:.3g}")}


def _profile(args, progress):
    from ..models.profiles import resolve_profile
    from ..models.transcripts import with_transcripts

    if args.save_files:
        from .synthetic import save_files

        return save_files(args.save_files, args.layers, fmt=args.save_format, progress=progress)
    profile = resolve_profile(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper, progress)
    return with_transcripts(profile, args.transcripts, progress)


def _load(args, progress):
    from ..engine.engine import Engine
    from ..engine.precision import plan

    if args.profile in ("synthetic-7b", "synthetic-ltu") and not args.save_files:
        from .synthetic import build_engine, build_ltu_engine

        p = plan(args.device, args.precision, args.encoder_precision)
        build = build_engine if args.profile == "synthetic-7b" else build_ltu_engine
        engine, t_cold = _timed(lambda: build(p, args.layers, progress))
        return engine, 0.0, t_cold, None
    profile, t_assets = _timed(lambda: _profile(args, progress))
    load = dict(device=args.device, precision=args.precision, encoder=args.encoder_precision)
    engine, t_cold = _timed(lambda: Engine.load(profile, progress=progress, **load))
    del engine
    gc.collect()  # the cold engine must be gone before the warm one loads, or the peak counts both
    engine, t_warm = _timed(lambda: Engine.load(profile, **load))
    return engine, t_assets, t_cold, t_warm


def _ask(engine, clip, question, settings, transcript=None, token_ids: bool = False) -> dict:
    """One answer's stats; with `token_ids` its tokens too (--authors checks both pipelines sampled the same)."""
    t0 = time.perf_counter()
    for _ in engine.answer(clip, question, transcript=transcript, settings=settings):
        pass
    a = engine.last_answer
    row = {"question": question, "answer": a.text, "total_s": round(time.perf_counter() - t0, 3),
           **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in a.stats.to_dict().items()}}
    return row | {"token_ids": list(a.token_ids)} if token_ids else row


def run_bench(args: argparse.Namespace, progress) -> int:
    import numpy as np
    import torch

    from ..audio.io import from_array, load_audio
    from ..engine.engine import peak_memory_mb
    from ..engine.types import GenerationSettings

    if args.quick:
        args.profile = args.profile or "tiny"
    args.profile = args.profile or "demo"
    if args.save_files and args.profile != "synthetic-7b":
        raise SystemExit("--save-files writes synthetic-7b's files: use it with --profile synthetic-7b.")
    if args.authors:
        from . import authors

        authors.check(args.authors, _profile(args, progress))
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
    if args.authors:
        settings = authors.settings(n_new, None)
    n_q = 2 if args.quick else max(1, min(args.questions, len(QUESTIONS)))
    asked = [_ask(engine, clip, q, settings, text_input, bool(args.authors)) for q in QUESTIONS[:n_q]]

    growth_answer, growth_clip = [], []
    if not args.quick and not args.authors:
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

    peak, peak_how = cpu_peak_gflops(torch.get_num_threads()) if engine.device == "cpu" else (None, "")
    prefill = prefill_rate(engine, asked[0]["prompt_tokens"], 1 if args.quick else 2)
    prefill |= {"peak_gflop_per_s": peak, "peak_is": peak_how,
                "percent_of_peak": float(f"{100 * prefill['gflop_per_s'] / peak:.3g}") if peak else None}
    backends, full = [], []
    has_ct2 = all(importlib.util.find_spec(m) for m in ("faster_whisper", "jiwer"))
    if not has_ct2 and (args.transcript_full_size or engine.transcriber is not None):
        print("bench: no transcript rows per backend: pip install 'ltu-desktop[ct2]'", file=sys.stderr)
    elif engine.transcriber is not None and engine.transcriber.backend == "openai-whisper":
        from .asr import on_profile, speech_set

        progress("Transcript stage on each backend", -1.0)
        ref = Path(clip_path).with_suffix(".txt")
        clips = ([(a, r) for a, r, _ in speech_set(args.asr_set)] if args.asr_set
                 else [(audio, ref.read_text() if ref.exists() else None)])
        backends = on_profile(engine.profile.asr_whisper, clips, ("float32",) if args.quick else ("float32", "int8"))
    if args.transcript_full_size and has_ct2:
        from .asr import full_size

        full = full_size(audio, args.transcript_full_size, progress=progress)
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
        "precision": engine.precision, "transcript_backend": engine.transcript_backend, "clip": str(clip_path), "clip_seconds": round(audio.duration, 2),
        "stages_s": {k: round(v, 4) for k, v in stages.items() if v is not None},
        "questions": asked,
        "first_and_later": first_and_later(asked, stages["prepare"]),
        "prefill": prefill,
        "transcript_backends": backends, "transcript_full_size": full,
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
    if args.authors:
        profile, clip_samples = engine.profile, audio.samples
        del engine, clip
        gc.collect()  # ours is gone before theirs loads: both would not fit in memory
        progress("Running the authors' pipeline on the same files", -1.0)
        said = text_input or (transcript.text if transcript else "")
        theirs = authors.run(args.authors, profile, clip_samples, list(QUESTIONS[:n_q]), said, n_new, None,
                             args.out / "authors.log")
        result |= {"authors": theirs, "side_by_side": authors.side_by_side(result, theirs)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    (args.out / "bench.md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {args.out / 'bench.json'}, {args.out / 'bench.md'}", file=sys.stderr)
    return 0


def first_and_later(asked: list[dict], prepare_s: float) -> dict:
    """The first question after loading beside the mean of later ones: loading and prepare should leave the
    first nothing extra to do. `with_prepare_s` adds the clip's features and prompt head, which the app
    computes while the person types, for comparison with a pipeline that computes them after the question."""
    keys = ("first_token_s", "tokens_per_s", "total_s")
    first, later = asked[0], asked[1:]
    out = {"first": {k: first[k] for k in keys} | {"with_prepare_s": round(prepare_s + first["total_s"], 3)}}
    if later:
        out["later_mean"] = {k: round(sum(q[k] for q in later) / len(later), 4) for k in keys}
    return out


def _agreement(args, engine, audio, transcript: str, progress) -> list[dict]:
    """Each named precision against an all-fp32 engine of the same profile, loaded one at a time.

    `int8/fp32` names int8 with an fp32 audio encoder, `fp32/bf16` an fp32 LLM with a bf16 encoder:
    the encoder's own effect on the answers."""
    from ..engine.engine import Engine
    from .quality import agreement

    wanted = [p for p in args.agreement.split(",") if p and p not in ("fp32", "fp32/fp32")]
    if not wanted:
        return []
    if args.profile in ("synthetic-7b", "synthetic-ltu"):
        raise SystemExit(f"--agreement needs trained weights (demo, tiny or real checkpoints), not {args.profile}.")
    profile = _profile(args, progress)
    same = engine.plan.describe() == "cpu fp32"
    reference = engine if same else Engine.load(profile, args.device, "fp32")
    rows = []
    for spec in wanted:
        precision, _, encoder = spec.partition("/")
        progress(f"Comparing {spec} with fp32", -1.0)
        other = Engine.load(profile, args.device, precision, encoder=encoder or "auto")
        row = agreement(reference, other, audio, list(QUESTIONS), transcript).to_dict()
        rows.append(row | {"precision": other.plan.describe().removeprefix(f"{other.device} ")})
        del other
    return rows


def _targets(stages: dict, asked: list[dict], decode: float, bound: float, precision: str) -> list[str]:
    """Each target with met / missed and by how much, so a miss is visible in the output itself."""
    out = []
    if "features" in stages:
        t = stages["features"]
        out.append(f"10 s window features {t:.2f} s (target < {TARGETS['features_s']} s): "
                   + ("met" if t < TARGETS["features_s"] else f"missed by {t - TARGETS['features_s']:.2f} s"))
    if len(asked) >= 2 and asked[1]["first_token_s"] > 0:
        r = asked[0]["first_token_s"] / (sum(q["first_token_s"] for q in asked[1:]) / (len(asked) - 1))
        out.append(f"first question's first token = {r:.2f} x later ones' (target <= 1.2: \"Ready\" means ready): "
                   + ("met" if r <= 1.2 else f"missed by {r - 1.2:.2f}"))
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
             "transcript": f"transcript ({r.get('transcript_backend') or 'Whisper'}, whole clip)",
             "features": "audio features of one window (front end)", "audio_tokens": "audio tokens (projection)",
             "prepare": "prepare through the engine (window features, cached from then on)"}
    lines += [f"| {names.get(k, k)} | {v:.3f} |" for k, v in r["stages_s"].items()]
    lines += ["", "| question | prompt tokens | reused prefix | first token (s) | tokens | tok/s | whole answer (s) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for i, q in enumerate(r["questions"], 1):
        lines.append(f"| {i} | {q['prompt_tokens']} | {q['reused_prefix_tokens']} | {q['first_token_s']:.3f} | "
                     f"{q['new_tokens']} | {q['tokens_per_s']:.1f} | {q['total_s']:.2f} |")
    fl = r["first_and_later"]
    lines += ["", "| | first question after loading | later questions (mean) |", "| --- | --- | --- |"]
    later = fl.get("later_mean", {})
    for key, label in (("first_token_s", "first token (s)"), ("tokens_per_s", "decode (tok/s)"),
                       ("total_s", "whole answer (s)")):
        lines.append(f"| {label} | {fl['first'][key]:.3f} | " + (f"{later[key]:.3f} |" if later else "- |"))
    lines.append(f"| answer + prepare (features, prompt head) (s) | {fl['first']['with_prepare_s']:.3f} | - |")
    pf = r["prefill"]
    lines += ["", f"Prefill of a whole prompt ({pf['positions']} positions, {pf['gflops']} GFLOP): {pf['seconds']:.3f} s"
                  f" = {pf['gflop_per_s']} GFLOP/s"
              + (f" = {pf['percent_of_peak']}% of this CPU's fp32 peak {pf['peak_gflop_per_s']} GFLOP/s"
                 f" ({pf['peak_is']})." if pf.get("peak_gflop_per_s") else ".")]
    if r.get("transcript_backends"):
        lines += ["", "| transcript backend (profile's Whisper, whole clips) | seconds | speed-up | WER |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {b['backend']} | {b['seconds']:.2f} | {b['speedup']} | {b['wer']:.3f} |"
                  for b in r["transcript_backends"]]
        lines += ["", f"WER against the {r['transcript_backends'][0]['wer_against']}."]
    if r.get("transcript_full_size"):
        lines += ["", "| transcript stage, random large-v2 (30 s window + fixed tokens) | encoder (s) | tokens | tok/s "
                      "| stage (s) | speed-up |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {b['backend']} | {b['encoder_s']:.2f} | {b['decoded_tokens']} | {b['tokens_per_s']} | "
                  f"{b['stage_s']:.2f} | {b['speedup']} |" for b in r["transcript_full_size"]]
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
    if r.get("side_by_side"):
        from .authors import markdown as side_by_side

        lines += ["", side_by_side(r["side_by_side"])]
    return "\n".join(lines) + "\n"
