"""Fine-tuning a tiny LTU-AS on the CPU: it learns the 8 answers, saves a strictly loadable adapter, resumes
after kill -9 or a stop to the same weights, and two data-parallel processes compute what one does (the last
two for LTU too)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ltu_desktop.train.loop import Trainer, TrainSettings

from .conftest import ANSWERS, QUESTIONS, profile_args

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(epochs=3, batch_size=4, micro_batch_size=2, warmup_steps=0, learning_rate=1e-2, save_steps=2,
             device="cpu")


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same(a: Path, b: Path, atol: float = 1e-6) -> None:
    x, y = _tensors(a), _tensors(b)
    assert x.keys() == y.keys()
    for k in x:
        torch.testing.assert_close(x[k], y[k], atol=atol, rtol=1e-5, msg=k)


def test_learns_the_answers_and_the_adapter_answers_through_ask(clips, tiny_profile, tmp_path, capsys):
    losses: list[float] = []
    run = tmp_path / "run"
    # No dropout here: on a 64-wide model dropout's noise, not capacity, bounds the loss within 80 steps
    # (the resume test below trains with the recipe's 0.05).
    settings = TrainSettings(epochs=80, batch_size=8, micro_batch_size=8, warmup_steps=0, learning_rate=3e-2,
                             lora_rank=8, lora_dropout=0.0, save_steps=1000, device="cpu")
    result = Trainer(tiny_profile, clips, run, settings, on_step=lambda d: losses.append(d["loss"])).train()
    assert result.status == "finished" and len(losses) == 80
    assert losses[-1] <= 0.1 * losses[0], (losses[0], losses[-1])

    card = json.loads((run / "training.json").read_text())
    assert card["status"] == "finished" and card["data"]["used"] == 8 and len(card["steps"]) == 80
    assert card["trainable"]["lora"] == 2 * (8 * 64 + 64 * 8 + 8 * 64 + 32 * 8)  # 2 layers: q (64 out), v (32 out)
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keys = set(_tensors(run / "adapter.bin"))
    assert keys == set(_tensors(tiny_profile.adapter))  # the released key layout, tensor for tensor

    from ltu_desktop.audio.io import load_audio
    from ltu_desktop.engine.engine import Engine
    from ltu_desktop.engine.types import GenerationSettings

    engine = Engine.load(replace(tiny_profile, adapter=run / "adapter.bin"), device="cpu", precision="fp32")
    greedy = GenerationSettings(temperature=0.0, max_new_tokens=30)
    for i, (question, answer) in enumerate(zip(QUESTIONS, ANSWERS)):
        clip = engine.prepare(load_audio(clips.parent / f"clip{i}.wav"))
        assert "".join(engine.answer(clip, question, transcript="", settings=greedy)) == answer

    from ltu_desktop.cli import main

    capsys.readouterr()
    assert main(["ask", str(clips.parent / "clip2.wav"), QUESTIONS[2], "--profile", str(run), "--transcript", "",
                 "--temperature", "0", "--device", "cpu", "--precision", "fp32", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == ANSWERS[2]


KILL_AT_STEP_5 = """
import os, signal, sys
from ltu_desktop.train import loop
step, calls = loop.Trainer._step, []
def dying_step(self, *args):
    calls.append(1)
    if len(calls) == 5:
        os.kill(os.getpid(), signal.SIGKILL)
    return step(self, *args)
loop.Trainer._step = dying_step
from ltu_desktop.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _profile(request, family: str):
    return request.getfixturevalue("tiny_profile" if family == "ltu-as" else "tiny_ltu_profile")


def test_resume_after_kill_9_gives_the_uninterrupted_weights(clips, tiny_profile, tmp_path):
    """Dropout stays on (0.05): the resumed run must also restore the random state to match."""
    reference = Trainer(tiny_profile, clips, tmp_path / "ref", TrainSettings(**SMALL)).train()
    assert reference.status == "finished" and reference.steps == 6

    run = tmp_path / "killed"
    args = ["finetune", "--data", str(clips), "--out", str(run), "--epochs", "3", "--batch-size", "4",
            "--micro-batch-size", "2", "--warmup-steps", "0", "--learning-rate", "1e-2", "--save-steps", "2",
            "--quiet", *profile_args(tiny_profile)]
    killed = subprocess.run([sys.executable, "-c", KILL_AT_STEP_5, *args], env=_env(), timeout=300,
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000002", "step-000004"]

    resumed = Trainer(tiny_profile, clips, run, TrainSettings(**SMALL)).train(resume=True)
    assert resumed.status == "finished" and resumed.steps == 6
    _assert_same(run / "checkpoints" / "step-000006" / "adapter.bin",
                 tmp_path / "ref" / "checkpoints" / "step-000006" / "adapter.bin")
    card = json.loads((run / "training.json").read_text())
    assert [s["step"] for s in card["steps"]] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("family", ["ltu-as", "ltu"])
def test_stop_saves_a_checkpoint_that_resumes_to_the_uninterrupted_weights(family, clips, request, tmp_path):
    """In-process and so cheap enough for both families (the kill -9 test above covers the process dying)."""
    import threading

    profile, settings = _profile(request, family), TrainSettings(**{**SMALL, "save_steps": 100})
    reference = Trainer(profile, clips, tmp_path / "ref", settings).train()
    cancel = threading.Event()
    run = tmp_path / "stopped"
    stopped = Trainer(profile, clips, run, settings, cancel=cancel,
                      on_step=lambda d: cancel.set() if d["step"] == 3 else None).train()
    assert stopped.status == "stopped" and stopped.steps == 3
    assert (run / "checkpoints" / "step-000003").is_dir()
    assert json.loads((run / "training.json").read_text())["status"] == "stopped"

    resumed = Trainer(profile, clips, run, settings).train(resume=True)
    assert resumed.status == reference.status == "finished" and resumed.steps == 6
    _assert_same(run / "checkpoints" / "step-000006" / "adapter.bin",
                 tmp_path / "ref" / "checkpoints" / "step-000006" / "adapter.bin")


@pytest.mark.skipif(shutil.which("accelerate", path=str(Path(sys.executable).parent)) is None,
                    reason="the accelerate launcher is not installed next to this Python")
@pytest.mark.parametrize("family", ["ltu-as", "ltu"])
def test_two_processes_compute_what_one_does(family, clips, request, tmp_path):
    """`accelerate launch` with 2 CPU processes (gloo) vs one process, the same global batch of 4. For LTU, DDP
    must also accept the CAV-MAE norms that train but that no audio forward uses."""
    tiny_profile = _profile(request, family)
    one = Trainer(tiny_profile, clips, tmp_path / "one",
                  TrainSettings(**{**SMALL, "epochs": 1, "lora_dropout": 0.0})).train()
    assert one.steps == 2
    launcher = str(Path(sys.executable).parent / "accelerate")
    two, port = tmp_path / "two", "29517" if family == "ltu-as" else "29518"
    done = subprocess.run(
        [launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
         "--dynamo_backend", "no", "--main_process_port", port, "-m", "ltu_desktop", "finetune",
         "--data", str(clips), "--out", str(two), "--epochs", "1", "--batch-size", "4", "--micro-batch-size", "2",
         "--warmup-steps", "0", "--learning-rate", "1e-2", "--save-steps", "2", "--lora-dropout", "0", "--quiet",
         *profile_args(tiny_profile)], env=_env(), timeout=300, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((two / "training.json").read_text())
    assert card["settings"]["processes"] == 2
    _assert_same(two / "adapter.bin", tmp_path / "one" / "adapter.bin", atol=1e-5)


def test_trainable_parameters_on_the_released_shapes():
    """LTU-AS 7B: LoRA r=8 on q/v of 32 layers + TLTR + projection = the authors' 48,793,600."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ltu_desktop.engine.llm import lora_model
    from ltu_desktop.engine.ltu_as import TLTR, LTUASFrontEnd, audio_projection
    from ltu_desktop.train.model import trainable

    cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32)
    with torch.device("meta"):
        lora = lora_model(LlamaForCausalLM(cfg), {}, 8, 0.05)
        front = LTUASFrontEnd(None, TLTR(1280), audio_projection(1280, 4096))
    counts = trainable(lora, front).trainable()
    assert counts["total"] == 48_793_600
    assert counts["lora"] == 4_194_304
