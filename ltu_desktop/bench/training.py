"""`bench --train-steps N`: fine-tuning speed and peak memory: a few AdamW steps after one warm-up step on
random inputs shaped like the cached training inputs, with the authors' cut-off length.

synthetic-7b / synthetic-ltu (the default is synthetic-7b) are full-size shapes with random weights: the trainable
model fine-tuning builds (LoRA r=8 with dropout + TLTR or CAV-MAE + projection). Any other profile (tiny,
tiny-ltu, a catalog profile, files) is built exactly as `finetune` builds it, QLoRA included."""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from ..engine.engine import peak_memory_mb
from ..engine.llm import lora_model
from ..engine.ltu import FRAMES, N_MELS, RELEASED_DIMS, CAVMAEAudio, LTUFrontEnd
from ..engine.ltu import audio_projection as ltu_projection
from ..engine.ltu_as import POOL, TLTR, WINDOW_FRAMES, LTUASFrontEnd, audio_projection
from ..engine.precision import Plan
from ..train.data import IGNORE
from ..train.loop import LEARNING_RATE, training_plan
from ..train.model import Trainee, build, trainable
from .synthetic import VICUNA_7B, WHISPER_LARGE_V1, _llm

SYNTHETIC = ("synthetic-7b", "synthetic-ltu")
LTU_AS_TOKENS = WINDOW_FRAMES // 2 // POOL


def synthetic_trainee(name: str, plan: Plan, layers: int) -> tuple[Trainee, tuple[int, ...]]:
    """(trainee, shape of one item's training input) at full size with random weights."""
    llm = _llm(plan, layers)
    hidden = VICUNA_7B["hidden_size"]
    if name == "synthetic-ltu":
        front = LTUFrontEnd(CAVMAEAudio(RELEASED_DIMS), ltu_projection(RELEASED_DIMS.width, hidden))
        shape: tuple[int, ...] = (FRAMES, N_MELS)
    else:
        width = WHISPER_LARGE_V1["n_state"]
        front = LTUASFrontEnd(None, TLTR(width), audio_projection(width, hidden))
        shape = (WHISPER_LARGE_V1["n_layer"], LTU_AS_TOKENS, width)
    return trainable(lora_model(llm, {}, 8, 0.05), front.to(plan.device)), shape


def profile_trainee(args: argparse.Namespace, plan: Plan, progress) -> tuple[Trainee, tuple[int, ...], str]:
    """The profile's trainable model as fine-tuning builds it, and the shape of its cached training input."""
    from ..engine.checkpoints import read_whisper
    from ..models.profiles import resolve_profile

    profile = resolve_profile(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper, progress)
    progress(f"Building the trainable {profile.describe()}", 0.1)
    trainee, _, _ = build(profile, plan, None, 0.05, [])
    if profile.kind == "ltu":
        shape: tuple[int, ...] = (FRAMES, N_MELS)
    else:
        layers = read_whisper(profile.feature_whisper, encoder_only=True).dims["n_audio_layer"]
        shape = (layers, LTU_AS_TOKENS, trainee.front.proj[1].weight.shape[1])
    return trainee, shape, profile.kind


def measure(trainee: Trainee, shape: tuple[int, ...], plan: Plan, micro: int, cutoff: int, steps: int, lr: float,
            progress) -> dict:
    """Seconds per optimizer step (the first, warm-up step not counted) and the peak memory."""
    optimizer = torch.optim.AdamW([p for p in trainee.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(micro, *shape, generator=g).to(plan.device)
    ids = torch.randint(3, trainee.llm.config.vocab_size, (micro, cutoff), generator=g).to(plan.device)
    labels = ids.clone()
    labels[:, : cutoff * 3 // 5] = IGNORE  # the prompt is not scored
    mask = torch.ones_like(ids)
    times = []
    for i in range(steps + 1):
        progress(f"Training step {i} of {steps} (step 0 warms up)", i / (steps + 1))
        t0 = time.perf_counter()
        with torch.autocast(plan.device.type, torch.bfloat16, enabled=plan.llm_dtype == torch.bfloat16):
            loss = trainee(feats, ids, labels, mask) / (labels != IGNORE).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if plan.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    step_s = sum(times[1:]) / max(1, len(times) - 1)
    return {"step_s": round(step_s, 3), "samples_per_s": round(micro / step_s, 3),
            "peak_memory_mb": round(peak_memory_mb(plan.device), 1)}


def run_train_bench(args: argparse.Namespace, progress) -> int:
    plan = training_plan(args.device, args.precision)
    given = args.profile or args.llm or args.adapter or args.whisper
    name = args.profile if given else "synthetic-7b"
    steps, micro, cutoff = (2, 1, 20) if args.quick else (args.train_steps, args.micro_batch_size, 100)
    if name in SYNTHETIC:
        if plan.quant is not None:
            raise SystemExit(f"bench --train-steps runs {name} in fp32 or bf16 (its random weights are not "
                             "quantized); on a GPU use --precision bf16.")
        layers = 1 if args.quick else args.layers
        progress(f"Allocating a {layers}-layer 7B LLM in {plan.precision} with random weights", 0.1)
        trainee, shape = synthetic_trainee(name, plan, layers)
        kind = "ltu" if name == "synthetic-ltu" else "ltu-as"
    else:
        trainee, shape, kind = profile_trainee(args, plan, progress)
        name = name or "files"
    layers = trainee.llm.config.num_hidden_layers
    counts = trainee.trainable()
    audio_tokens = trainee.front.encoder.dims.columns // 2 if kind == "ltu" else LTU_AS_TOKENS
    timing = measure(trainee, shape, plan, micro, cutoff, steps, LEARNING_RATE[kind], progress)
    result = {"profile": name, "family": kind, "layers": layers, "device": plan.device.type,
              "precision": plan.precision, "micro_batch": micro, "text_tokens": cutoff, "audio_tokens": audio_tokens,
              "steps": steps, "trainable": counts, **timing, "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    text = (f"Fine-tuning {name} ({layers} layers) on {plan.device.type} {plan.precision}: "
            f"{result['samples_per_s']} samples/s ({result['step_s']} s per step of {micro} x "
            f"({audio_tokens} audio + {cutoff} text) tokens), peak memory {result['peak_memory_mb']:.0f} MB, "
            f"{counts['total']:,} trainable parameters.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-train.json").write_text(json.dumps(result, indent=1))
    (args.out / "bench-train.md").write_text(text)
    print(text)
    print(f"written: {args.out / 'bench-train.json'}, {args.out / 'bench-train.md'}", file=sys.stderr)
    return 0
