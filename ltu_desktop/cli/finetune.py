"""`ltu-desktop finetune --data my.json --profile NAME --out runs/NAME`: train an adapter on your own clips.

Several GPUs (or CPU processes): `accelerate launch -m ltu_desktop finetune ...`, data-parallel.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .common import add_model_args, progress_printer, resolve_profile


def add_parser(sub) -> argparse.ArgumentParser:
    from ..train.loop import TrainSettings

    d = TrainSettings()
    p = sub.add_parser("finetune", help="fine-tune LTU-AS or LTU on your own clips (OpenASQA-format JSON)",
                       description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True,
                   help="JSON list of {audio_id, instruction, input?, output}; audio_id relative to this file "
                        "(LTU reads no input)")
    p.add_argument("--out", type=Path, help="run folder: adapter.bin, training.json, loss.png, checkpoints/")
    p.add_argument("--check", action="store_true", help="only check the data and report; no training")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    g = p.add_argument_group("training (defaults: the authors' recipe)")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--learning-rate", type=float, default=None, help="default: LTU-AS 2e-4, LTU 1e-4")
    g.add_argument("--batch-size", type=int, default=d.batch_size,
                   help="effective batch (gradient accumulation over micro-batches and processes)")
    g.add_argument("--micro-batch-size", type=int, default=d.micro_batch_size)
    g.add_argument("--cutoff-len", type=int, default=d.cutoff_len, help="text tokens per item (prompt + answer)")
    g.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="capped at a tenth of the run")
    g.add_argument("--lora-r", type=int, default=None, help="default: the adapter's rank (8)")
    g.add_argument("--lora-dropout", type=float, default=d.lora_dropout)
    g.add_argument("--val-size", type=int, default=None,
                   help="items held out for validation (default: 5%% when there are 40 or more)")
    g.add_argument("--save-steps", type=int, default=d.save_steps)
    g.add_argument("--seed", type=int, default=d.seed)
    add_model_args(p)
    # Training transcripts as the authors made theirs; the run's card then names the .pt, not a cache folder.
    p.set_defaults(func=run, transcripts="openai-whisper")
    return p


def settings_from(args: argparse.Namespace):
    from ..train.loop import TrainSettings

    return TrainSettings(
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        micro_batch_size=args.micro_batch_size, cutoff_len=args.cutoff_len, warmup_steps=args.warmup_steps,
        lora_rank=args.lora_r, lora_dropout=args.lora_dropout, val_size=args.val_size, save_steps=args.save_steps,
        seed=args.seed, device=args.device, precision=args.precision)


def run(args: argparse.Namespace) -> int:
    from ..engine.types import EngineError
    from ..train.loop import Trainer

    if not args.check and args.out is None:
        raise EngineError("Say where the run goes: --out runs/NAME (or use --check to only check the data).")
    if args.out is not None and not args.resume and not args.check and (args.out / "training.json").exists():
        raise EngineError(f"{args.out} already holds a run: --resume it, or choose another --out.")
    progress = progress_printer(args.quiet)
    profile = resolve_profile(args, progress)
    trainer = Trainer(profile, args.data, args.out or Path("."), settings_from(args), progress,
                      on_step=_step_printer(args.quiet))
    if not trainer.main:
        trainer.progress = lambda _m, _f: None
        trainer.on_step = lambda _d: None
    if args.check:
        report = trainer.check()
        print(report.summary())
        return 0 if report.examples else 1
    try:
        result = trainer.train(resume=args.resume)
    except KeyboardInterrupt:
        return 130
    if trainer.main:
        print(f"\n{result.report.summary()}", file=sys.stderr)
        best = result.card.get("best") or {}
        said = f"best validation loss {best['loss']:.4f} at step {best['step']}" if best.get("loss") else "last step"
        print(f"{result.status}: {result.steps} step(s); adapter ({said}): {result.adapter}\n"
              f"Ask with it: ltu-desktop ask CLIP QUESTION --profile {result.run}", file=sys.stderr)
    return 0 if result.status == "finished" else 130


def _step_printer(quiet: bool):
    def show(d: dict) -> None:
        if quiet:
            return
        left = time.strftime("%H:%M:%S", time.gmtime(d["eta_s"]))
        print(f"\rstep {d['step']}/{d['total']}  loss {d['loss']:.4f}  lr {d['lr']:.2e}  "
              f"{d['samples_per_s']:.2f} samples/s  {left} left\033[K", end="", file=sys.stderr, flush=True)
    return show
