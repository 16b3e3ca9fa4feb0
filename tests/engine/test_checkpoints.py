"""Strict loading: a wrong or damaged file is refused with the names of what is wrong."""

from __future__ import annotations

import shutil

import pytest
import torch

from ltu_desktop.engine.engine import Engine
from ltu_desktop.engine.types import CheckpointError
from ltu_desktop.models.tiny import make_adapter, make_llm, make_whisper


def _with(profile, **changes):
    from dataclasses import replace

    return replace(profile, **changes)


def _load(profile):
    return Engine.load(profile, device="cpu", precision="fp32")


def test_adapter_missing_tltr_tensor_is_named(tiny_profile, tmp_path):
    sd = torch.load(tiny_profile.adapter, weights_only=True)
    del sd["base_model.model.model.audio_encoder.layer_tr.mlp.0.weight"]
    torch.save(sd, tmp_path / "a.bin")
    with pytest.raises(CheckpointError, match=r"audio_encoder\.layer_tr\.mlp\.0\.weight"):
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))


def test_adapter_missing_lora_layer_is_refused(tiny_profile, tmp_path):
    sd = torch.load(tiny_profile.adapter, weights_only=True)
    del sd["base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"]
    torch.save(sd, tmp_path / "a.bin")
    with pytest.raises(CheckpointError, match=r"layers\.1\.self_attn\.v_proj\.lora_B"):
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))


def test_adapter_misshapen_tensor_is_refused(tiny_profile, tmp_path):
    sd = torch.load(tiny_profile.adapter, weights_only=True)
    sd["base_model.model.model.audio_encoder.time_tr.attn.out.bias"] = torch.zeros(3)
    torch.save(sd, tmp_path / "a.bin")
    with pytest.raises(CheckpointError, match=r"time_tr\.attn\.out\.bias: expected \(64,\), found \(3,\)"):
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))


def test_misshapen_projection_names_expected_and_found_per_tensor(tiny_profile, tmp_path):
    """Issue 14: "audio_proj.1: weight (64, 32), bias (64,)" said neither what was expected nor which was wrong."""
    sd = torch.load(tiny_profile.adapter, weights_only=True)
    sd["base_model.model.model.audio_proj.1.bias"] = torch.zeros(63)
    torch.save(sd, tmp_path / "a.bin")
    with pytest.raises(CheckpointError) as caught:
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))
    assert "model.audio_proj.1.bias: expected (64,), found (63,)" in str(caught.value)
    assert "audio_proj.1.weight" not in str(caught.value)


def test_misshapen_llm_tensor_names_expected_and_found(tiny_profile, tmp_path):
    from safetensors.torch import load_file, save_file

    llm = tmp_path / "llm"
    shutil.copytree(tiny_profile.llm, llm)
    weights = next(llm.glob("*.safetensors"))
    sd = load_file(str(weights))
    key = "model.layers.0.mlp.up_proj.weight"
    rows, cols = sd[key].shape
    sd[key] = torch.zeros(rows + 1, cols)
    save_file(sd, str(weights), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=rf"{key}: expected \({rows}, {cols}\), found \({rows + 1}, {cols}\)"):
        _load(_with(tiny_profile, llm=llm))


def test_adapter_for_another_llm_width_is_refused(tiny_profile, tmp_path):
    make_adapter(tmp_path / "a.bin", hidden=32, heads=4, kv_heads=2)
    with pytest.raises(CheckpointError, match="hidden size is 64"):
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))


def test_adapter_for_deeper_llm_is_refused(tiny_profile, tmp_path):
    make_adapter(tmp_path / "a.bin", layers=3)
    with pytest.raises(CheckpointError, match="beyond the LLM's 2"):
        _load(_with(tiny_profile, adapter=tmp_path / "a.bin"))


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file" * 10])
def test_non_checkpoint_files_are_refused(tiny_profile, tmp_path, content):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.bin"):
        _load(_with(tiny_profile, adapter=bad))
    with pytest.raises(CheckpointError, match="bad.bin"):
        _load(_with(tiny_profile, feature_whisper=bad))


def test_whisper_checkpoint_given_as_adapter_is_refused(tiny_profile):
    with pytest.raises(CheckpointError, match="not an LTU-AS adapter"):
        _load(_with(tiny_profile, adapter=tiny_profile.feature_whisper))


def test_whisper_missing_block_is_named(tiny_profile, tmp_path):
    ck = torch.load(tiny_profile.feature_whisper, weights_only=True)
    del ck["model_state_dict"]["encoder.blocks.2.mlp_ln.bias"]
    torch.save(ck, tmp_path / "w.pt")
    with pytest.raises(CheckpointError, match=r"encoder\.blocks\.2\.mlp_ln\.bias"):
        _load(_with(tiny_profile, feature_whisper=tmp_path / "w.pt"))


def test_feature_whisper_width_must_match_adapter(tiny_profile, tmp_path):
    make_whisper(tmp_path / "w.pt", width=32, heads=2)
    with pytest.raises(CheckpointError, match="width 32"):
        _load(_with(tiny_profile, feature_whisper=tmp_path / "w.pt"))


def test_llm_folder_without_weights_or_config(tiny_profile, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        _load(_with(tiny_profile, llm=tmp_path / "empty"))
    with pytest.raises(CheckpointError, match="not found"):
        _load(_with(tiny_profile, llm=tmp_path / "nowhere"))


def test_llm_missing_tensor_is_refused(tiny_profile, tmp_path):
    from safetensors.torch import load_file, save_file

    llm = tmp_path / "llm"
    shutil.copytree(tiny_profile.llm, llm)
    sd = load_file(str(llm / "model.safetensors"))
    del sd["model.layers.1.mlp.up_proj.weight"]
    save_file(sd, str(llm / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"model\.layers\.1\.mlp\.up_proj\.weight"):
        _load(_with(tiny_profile, llm=llm))


def test_llm_with_unknown_tensors_is_refused(tiny_profile, tmp_path):
    from safetensors.torch import load_file, save_file

    llm = tmp_path / "llm"
    shutil.copytree(tiny_profile.llm, llm)
    sd = load_file(str(llm / "model.safetensors"))
    sd["model.vision_tower.weight"] = torch.zeros(2)
    save_file(sd, str(llm / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="vision_tower"):
        _load(_with(tiny_profile, llm=llm))


def test_base_folder_audio_copies_are_ignored_and_reported(tiny_engine):
    assert any("model.audio_encoder" in n and "Ignored 2 extra" in n for n in tiny_engine.notes)


def test_bin_shards_and_plain_lora_keys_load_like_safetensors(tiny_profile, tmp_path, noise_audio):
    from ltu_desktop.engine.types import GenerationSettings

    llm = make_llm(tmp_path / "llm", fmt="bin")
    adapter = make_adapter(tmp_path / "a.bin", lora_key_style="plain")
    a = _load(tiny_profile)
    b = _load(_with(tiny_profile, llm=llm, adapter=adapter))
    s = GenerationSettings(temperature=0, max_new_tokens=8)
    outs = []
    for e in (a, b):
        list(e.answer(e.prepare(noise_audio, transcript=None), "Describe the sound.", transcript="x", settings=s))
        outs.append(e.last_answer.token_ids)
    assert outs[0] == outs[1]


def test_full_finetune_file_replaces_llm_weights(tiny_profile, tmp_path, noise_audio):
    from ltu_desktop.engine.types import GenerationSettings

    adapter = torch.load(tiny_profile.adapter, weights_only=True)
    from safetensors.torch import load_file

    base = load_file(str(tiny_profile.llm / "model.safetensors"))
    full = dict(adapter)
    for k, v in base.items():
        if k.startswith("model.audio"):
            continue
        full[f"base_model.model.{k}"] = v * 1.5 if "mlp.down_proj" in k else v
    torch.save(full, tmp_path / "full.bin")
    e = _load(_with(tiny_profile, adapter=tmp_path / "full.bin"))
    assert any("Full fine-tune" in n for n in e.notes)
    down = e.lm.llm.model.layers[0].mlp.down_proj.weight
    assert torch.allclose(down, base["model.layers.0.mlp.down_proj.weight"] * 1.5)
    s = GenerationSettings(temperature=0, max_new_tokens=4)
    assert "".join(e.answer(e.prepare(noise_audio), "Describe the sound.", settings=s)) is not None

    del full["base_model.model.model.layers.1.mlp.gate_proj.weight"]
    torch.save(full, tmp_path / "partial.bin")
    with pytest.raises(CheckpointError, match="gate_proj"):
        _load(_with(tiny_profile, adapter=tmp_path / "partial.bin"))
