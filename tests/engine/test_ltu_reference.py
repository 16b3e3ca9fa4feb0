"""LTU end to end against a plain computation: the recipe's CAV-MAE path, LLaMA written out, greedy decoding."""

from __future__ import annotations

import json

import soundfile as sf
import torch
from safetensors.torch import load_file
from test_ltu import _reference_tokens
from test_reference import _llama_last_logits

from ltu_desktop.engine.ltu import fbank_window
from ltu_desktop.models.tiny import make_tiny_ltu_profile


def _reference_answer(profile, samples, question: str, penalty: float, n: int) -> list[int]:
    """Audio tokens at positions 0-31, then BOS and the no-input alpaca_short prompt; the penalty sees text ids only."""
    import sentencepiece as spm

    sd = torch.load(profile.adapter, weights_only=True)
    base = load_file(str(profile.llm / "model.safetensors"))
    cfg = json.loads((profile.llm / "config.json").read_text())
    lora = {}
    for i in range(cfg["num_hidden_layers"]):
        for p in ("q", "v"):
            pre = f"base_model.model.model.layers.{i}.self_attn.{p}_proj"
            lora[(i, p)] = (sd[f"{pre}.lora_A.default.weight"], sd[f"{pre}.lora_B.default.weight"])
    scale = 16 / sd["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"].shape[0]
    sp = spm.SentencePieceProcessor(model_file=str(profile.llm / "tokenizer.model"))
    ids = [1] + sp.encode(f"### Instruction:\n{question}\n\n### Response:\n")
    audio = _reference_tokens(sd, fbank_window(samples))[None]
    tokens: list[int] = []
    for _ in range(n):
        embeds = torch.cat([audio, base["model.embed_tokens.weight"][ids + tokens][None]], dim=1)
        logits = _llama_last_logits(embeds, base, lora, cfg, scale)
        seen = torch.tensor(ids + tokens)
        picked = logits[seen]
        logits[seen] = torch.where(picked < 0, picked * penalty, picked / penalty)
        tokens.append(int(logits.argmax()))
        if tokens[-1] == 2:
            break
    return [t for t in tokens if t != 2]


def test_batch_greedy_answers_match_the_recipe_token_for_token(tiny_profile, tmp_path, noise_audio, tone_audio):
    from ltu_desktop.cli import main

    profile = make_tiny_ltu_profile(tmp_path / "ltu", llm=tiny_profile.llm)
    sf.write(tmp_path / "noise.wav", noise_audio.samples, 16000, subtype="FLOAT")
    sf.write(tmp_path / "tone.wav", tone_audio.samples, 16000, subtype="FLOAT")
    items = [{"audio_id": "noise.wav", "instruction": "What can be inferred from the audio? Why?"},
             {"audio_id": "tone.wav", "instruction": "Describe the sound."}]
    (tmp_path / "items.json").write_text(json.dumps(items))
    rc = main(["batch", "--llm", str(profile.llm), "--adapter", str(profile.adapter), "--temperature", "0",
               "--repetition-penalty", "1.1", "--max-new-tokens", "24", "--input", str(tmp_path / "items.json"),
               "--output", str(tmp_path / "out.json"), "--device", "cpu", "--quiet"])
    assert rc == 0
    rows = json.loads((tmp_path / "out.json").read_text())
    for row, audio in zip(rows, (noise_audio, tone_audio)):
        assert row["input"] == ""
        assert row["pred_ids"] == _reference_answer(profile, audio.samples, row["instruction"], 1.1, 24)
