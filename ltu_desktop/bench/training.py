"""`bench --train-steps N`: fine-tuning speed and peak memory on synthetic-7b (full-size shapes, random weights):
the trainable model fine-tuning builds (LoRA r=8 with dropout + TLTR + projection), random cached-feature-shaped
inputs of the authors' cut-off length, a few AdamW steps after one warm-up step."""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from ..engine.engine import peak_memory_mb
from ..engine.llm import lora_model
from ..engine.ltu_as import TLTR, LTUASFrontEnd, audio_projection
from ..train.data import IGNORE
from ..train.loop import training_plan
from ..train.model import trainable
from .synthetic import VICUNA_7B, WHISPER_LARGE_V1, _llm

WHISPER_LAYERS, AUDIO_TOKENS = 32, 25


def run_train_bench(args: argparse.Namespace, progress) -> int:
    plan = training_plan(args.device, args.precision)
    if plan.quant is not None:
        raise SystemExit("bench --train-steps runs synthetic-7b in fp32 or bf16 (its random weights are not "
                         "quantized); on a GPU use --precision bf16.")
    layers = 1 if args.quick else args.layers
    steps, micro, cutoff = (2, 1, 20) if args.quick else (args.train_steps, args.micro_batch_size, 100)
    progress(f"Allocating a {layers}-layer 7B LLM in {plan.precision} with random weights", 0.1)
    llm = _llm(plan, layers)
    width, hidden = WHISPER_LARGE_V1["n_state"], VICUNA_7B["hidden_size"]
    front = LTUASFrontEnd(None, TLTR(width), audio_projection(width, hidden)).to(plan.device)
    trainee = trainable(lora_model(llm, {}, 8, 0.05), front)
    counts = trainee.trainable()
    optimizer = torch.optim.AdamW([p for p in trainee.parameters() if p.requires_grad], lr=2e-4, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(micro, WHISPER_LAYERS, AUDIO_TOKENS, width, generator=g).to(plan.device)
    ids = torch.randint(3, VICUNA_7B["vocab_size"], (micro, cutoff), generator=g).to(plan.device)
    labels = ids.clone()
    labels[:, : cutoff * 3 // 5] = IGNORE  # the prompt is not scored
    mask = torch.ones_like(ids)
    times = []
    for i in range(steps + 1):
        progress(f"Training step {i} of {steps} (step 0 warms up)", i / (steps + 1))
        t0 = time.perf_counter()
        loss = trainee(feats, ids, labels, mask) / (labels != IGNORE).sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if plan.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    step_s = sum(times[1:]) / max(1, len(times) - 1)
    result = {"profile": "synthetic-7b", "layers": layers, "device": plan.device.type, "precision": plan.precision,
              "micro_batch": micro, "text_tokens": cutoff, "audio_tokens": AUDIO_TOKENS, "steps": steps,
              "trainable": counts, "step_s": round(step_s, 3), "samples_per_s": round(micro / step_s, 3),
              "peak_memory_mb": round(peak_memory_mb(plan.device), 1), "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    text = (f"Fine-tuning synthetic-7b ({layers} layers) on {plan.device.type} {plan.precision}: "
            f"{result['samples_per_s']} samples/s ({result['step_s']} s per step of {micro} x "
            f"({AUDIO_TOKENS} audio + {cutoff} text) tokens), peak memory {result['peak_memory_mb']:.0f} MB, "
            f"{counts['total']:,} trainable parameters.\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-train.json").write_text(json.dumps(result, indent=1))
    (args.out / "bench-train.md").write_text(text)
    print(text)
    print(f"written: {args.out / 'bench-train.json'}, {args.out / 'bench-train.md'}", file=sys.stderr)
    return 0
