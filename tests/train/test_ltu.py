"""Fine-tuning a tiny LTU on the CPU: CAV-MAE, projection and LoRA learn the 8 answers from the fbank alone
(no transcript), and the adapter comes out in `ltu_ori_paper.bin`'s layout for `ask` and the strict reader."""

from __future__ import annotations

import json

import torch

from ltu_desktop.cli import main
from ltu_desktop.train.loop import Trainer, TrainSettings

from .conftest import ANSWERS, QUESTIONS, profile_args, write_clip


def test_learns_the_answers_and_the_adapter_answers_through_ask(clips, tiny_ltu_profile, tmp_path, capsys):
    losses: list[float] = []
    run = tmp_path / "run"
    # Rank 8, not the tiny adapter's 4: LoRA starts afresh (B = 0) instead of from the file's random noise.
    settings = TrainSettings(epochs=60, batch_size=8, micro_batch_size=8, warmup_steps=0, learning_rate=3e-2,
                             lora_rank=8, lora_dropout=0.0, save_steps=1000, device="cpu")
    result = Trainer(tiny_ltu_profile, clips, run, settings, on_step=lambda d: losses.append(d["loss"])).train()
    assert result.status == "finished" and len(losses) == 60
    assert losses[-1] <= 0.1 * losses[0], (losses[0], losses[-1])

    card = json.loads((run / "training.json").read_text())
    assert card["family"] == "ltu" and card["data"]["used"] == 8
    audio = sum(t.numel() for k, t in torch.load(tiny_ltu_profile.adapter, weights_only=True).items()
                if "lora_" not in k)
    assert card["trainable"]["audio"] == audio  # every tensor of CAV-MAE and the projection trains

    from ltu_desktop.engine.ltu import read_ltu

    saved = torch.load(run / "adapter.bin", weights_only=True)
    released = torch.load(tiny_ltu_profile.adapter, weights_only=True)
    assert {k for k in saved if "lora_" not in k} == {k for k in released if "lora_" not in k}
    assert {k.replace("lora_A", "").replace("lora_B", "") for k in saved if "lora_" in k} == \
        {k.replace("lora_A", "").replace("lora_B", "") for k in released if "lora_" in k}
    assert all(t.dtype == torch.float32 for t in saved.values())
    weights = read_ltu(run / "adapter.bin")
    assert weights.lora_rank == 8 and not weights.full_finetune

    from dataclasses import replace

    from ltu_desktop.audio.io import load_audio
    from ltu_desktop.engine.engine import Engine
    from ltu_desktop.engine.types import GenerationSettings

    engine = Engine.load(replace(tiny_ltu_profile, adapter=run / "adapter.bin"), device="cpu", precision="fp32")
    greedy = GenerationSettings(temperature=0.0, max_new_tokens=30)
    for i, (question, answer) in enumerate(zip(QUESTIONS, ANSWERS)):
        clip = engine.prepare(load_audio(clips.parent / f"clip{i}.wav"))
        assert "".join(engine.answer(clip, question, settings=greedy)) == answer

    capsys.readouterr()
    assert main(["ask", str(clips.parent / "clip5.wav"), QUESTIONS[5], "--llm", str(tiny_ltu_profile.llm),
                 "--adapter", str(run / "adapter.bin"), "--temperature", "0", "--device", "cpu",
                 "--precision", "fp32", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == ANSWERS[5]


def test_check_on_ltu_data_caches_the_fbank_and_computes_no_transcript(tmp_path, tiny_ltu_profile, capsys):
    for i in range(2):
        write_clip(tmp_path / f"ok{i}.wav", 20 + i)  # clips no other test has cached
    items = [
        {"audio_id": "ok0.wav", "instruction": "What is it?", "output": "A tone."},
        {"audio_id": "ok1.wav", "instruction": "What is it?", "input": "someone speaks", "output": "A hum."},
        {"audio_id": "ok1.wav", "instruction": "What is it?", "input": "", "output": "A hum."},  # same for LTU
        {"audio_id": "missing.wav", "instruction": "What is it?", "output": "Silence."},
    ]
    data = tmp_path / "data.json"
    data.write_text(json.dumps(items))
    from ltu_desktop.paths import cache_dir

    before = {p for p in (cache_dir() / "train").rglob("*") if p.is_file()}
    assert main(["finetune", "--data", str(data), "--check", "--quiet", *profile_args(tiny_ltu_profile)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 of 4 item(s) pass; 2 left out")
    assert "item 1 (ok1.wav): input-ignored: LTU reads no input text" in out and "[kept]" in out
    assert "item 2 (ok1.wav): duplicate:" in out and ": missing-audio: " in out

    new = {p for p in (cache_dir() / "train").rglob("*") if p.is_file()} - before
    assert not any(p.parts[-3] == "transcripts" for p in new)  # LTU reads no transcript: none is computed
    feats = [p for p in new if p.suffix == ".pt"]
    assert len(feats) == 2 and all(p.parent.name == "ltu-fbank-1024x128" for p in feats)
    assert torch.load(feats[0], weights_only=True).shape == (1024, 128)


def test_trainable_parameters_on_the_released_shapes():
    """LTU 7B: LoRA r=8 on q/v of 32 layers + CAV-MAE (ViT-B, 11 + 1 blocks) + projection = the authors'
    93,065,216."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ltu_desktop.engine.llm import lora_model
    from ltu_desktop.engine.ltu import RELEASED_DIMS, CAVMAEAudio, LTUFrontEnd, audio_projection
    from ltu_desktop.train.model import trainable

    cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32)
    with torch.device("meta"):
        lora = lora_model(LlamaForCausalLM(cfg), {}, 8, 0.05)
        front = LTUFrontEnd(CAVMAEAudio(RELEASED_DIMS), audio_projection(768, 4096))
    counts = trainable(lora, front).trainable()
    assert counts["total"] == 93_065_216
    assert counts["lora"] == 4_194_304


def test_memory_plan_counts_the_encoder_that_trains(tiny_ltu_profile):
    from ltu_desktop.train import loop

    plan = loop.training_plan("cpu", "fp32")
    one, four = (loop.training_memory(tiny_ltu_profile, plan, loop.TrainSettings(micro_batch_size=m), available=1e9)
                 for m in (1, 4))
    assert 0 < one.parts["audio encoder activations"] < four.parts["audio encoder activations"]
