"""The run folder: adapters in the released `.bin` layout, resumable checkpoints, training.json and loss.png.

```
RUN/adapter.bin                  best adapter so far (lowest validation loss; the last one without validation)
RUN/training.json                data, settings, versions, per-step loss and validation loss
RUN/loss.png                     the curves
RUN/checkpoints/step-000040/     adapter.bin + optimizer.pt + state.json + rng-<rank>.pt (one per process)
```
A checkpoint is written to a temporary folder and renamed into place, so a kill -9 leaves either a whole
checkpoint or none; `latest_checkpoint` only ever sees whole ones.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from .model import Trainee, adapter_state

KEEP = 2  # newest checkpoints kept (the best adapter is kept apart, as RUN/adapter.bin)


def save_adapter(trainee: Trainee, path: Path) -> None:
    tmp = Path(path).with_suffix(".tmp")
    torch.save(adapter_state(trainee), tmp)
    os.replace(tmp, path)


def checkpoint_dir(run: Path, step: int) -> Path:
    return Path(run) / "checkpoints" / f"step-{step:06d}"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_rng(folder: Path, rank: int) -> None:
    torch.save(rng_state(), Path(folder) / f"rng-{rank}.pt")


def write_checkpoint(folder: Path, trainee: Trainee, optimizer, scheduler, state: dict) -> None:
    """Main process: the model, optimizer and scheduler into `folder` (a temporary name), then renamed."""
    folder = Path(folder)
    torch.save(adapter_state(trainee), folder / "adapter.bin")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, folder / "optimizer.pt")
    (folder / "state.json").write_text(json.dumps(state))


def commit_checkpoint(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    done = sorted(p for p in final.parent.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in done[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run: Path) -> Path | None:
    done = sorted(p for p in (Path(run) / "checkpoints").glob("step-*")
                  if p.is_dir() and not p.name.endswith(".tmp") and (p / "state.json").exists())
    return done[-1] if done else None


def read_checkpoint(folder: Path, rank: int) -> tuple[dict, dict, dict, dict]:
    """(adapter tensors, optimizer + scheduler, state, this process's random state)."""
    adapter = torch.load(folder / "adapter.bin", map_location="cpu", weights_only=True)
    opt = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    state = json.loads((folder / "state.json").read_text())
    rng_file = folder / f"rng-{rank}.pt"
    rng = torch.load(rng_file, map_location="cpu", weights_only=False) if rng_file.exists() else {}
    return adapter, opt, state, rng


def write_card(run: Path, card: dict) -> None:
    tmp = Path(run) / "training.json.tmp"
    tmp.write_text(json.dumps(card, indent=1))
    os.replace(tmp, Path(run) / "training.json")


def plot_loss(run: Path, steps: list[dict], validation: list[dict]) -> None:
    """loss.png: training loss per step, validation loss at each evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot()
    if steps:
        ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], label="training")
    if validation:
        ax.plot([v["step"] for v in validation], [v["loss"] for v in validation], "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (answer tokens)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = Path(run) / "loss.tmp.png"
    fig.savefig(tmp)
    os.replace(tmp, Path(run) / "loss.png")
