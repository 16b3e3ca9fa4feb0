"""QLoRA (NF4 base + paged AdamW 8-bit) and multi-GPU data parallel fine-tuning; they skip without CUDA GPUs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ltu_desktop.train.loop import Trainer, TrainSettings

from .conftest import profile_args

pytestmark = pytest.mark.gpu
CUDA = torch.cuda.is_available()
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not CUDA, reason="QLoRA needs a CUDA GPU (bitsandbytes NF4 + paged AdamW 8-bit); none here")
@pytest.mark.parametrize("family", ["ltu-as", "ltu"])
def test_qlora_trains_and_saves_the_released_layout(family, clips, request, tmp_path):
    tiny_profile = request.getfixturevalue("tiny_profile" if family == "ltu-as" else "tiny_ltu_profile")
    losses: list[float] = []
    result = Trainer(tiny_profile, clips, tmp_path / "run",
                     TrainSettings(epochs=20, batch_size=8, micro_batch_size=4, warmup_steps=0, learning_rate=1e-2,
                                   device="cuda", precision="nf4"),
                     on_step=lambda d: losses.append(d["loss"])).train()
    assert result.status == "finished" and losses[-1] < losses[0]
    card = json.loads((tmp_path / "run" / "training.json").read_text())
    assert card["settings"]["precision"] == "nf4"
    saved = torch.load(tmp_path / "run" / "adapter.bin", weights_only=True)
    assert set(saved) == set(torch.load(tiny_profile.adapter, weights_only=True))


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="multi-GPU data parallel needs 2 or more CUDA GPUs")
def test_two_gpus_train_data_parallel(clips, tiny_profile, tmp_path):
    launcher = str(Path(sys.executable).parent / "accelerate")
    done = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--mixed_precision", "no", "-m", "ltu_desktop",
         "finetune", "--data", str(clips), "--out", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "4",
         "--micro-batch-size", "2", "--warmup-steps", "0", "--quiet", "--precision", "nf4",
         *[a if a != "cpu" else "cuda" for a in profile_args(tiny_profile)]],
        timeout=600, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "training.json").read_text())["settings"]["processes"] == 2
