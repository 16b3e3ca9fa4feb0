"""LTU's front end against independent computations: Kaldi's C++ filterbank, values from torchaudio's
Kaldi-compatible fbank, and CAV-MAE + pooling written out from the recipe; strict reading of LTU files."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ltu_desktop.audio.io import load_audio
from ltu_desktop.engine.checkpoints import PEFT_PREFIX
from ltu_desktop.engine.ltu import (RELEASED_DIMS, CAVMAEAudio, audio_projection, build_encoder, build_projection,
                                    fbank_window, kaldi_fbank, mel_banks, pool_tokens, read_ltu)
from ltu_desktop.engine.types import CheckpointError
from ltu_desktop.models.tiny import make_ltu_adapter


def _signals(tmp_path) -> dict[str, np.ndarray]:
    t = np.arange(16000 * 3) / 16000
    wav = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), "a dog barks twice and then the door closes"], check=True)
    return {
        "noise": (np.random.default_rng(0).standard_normal(16000 * 3) * 0.1).astype(np.float32),
        "tone": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "speech": load_audio(wav).samples,
    }


def _kaldi_cpp(x: np.ndarray, n_mels: int) -> np.ndarray:
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.mel_opts.num_bins = n_mels
    opts.use_energy = False
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, x.tolist())
    fbank.input_finished()
    return np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])


def test_fbank_matches_kaldis_own_cpp_implementation(tmp_path):
    # Kaldi refuses 128 bins at a 512-point FFT (a low filter would be empty); 120 is its largest, and the
    # 128-bin filters themselves are checked below.
    for name, x in _signals(tmp_path).items():
        x = x - x.mean()
        ours = kaldi_fbank(torch.from_numpy(x), n_mels=120).numpy()
        ref = _kaldi_cpp(x, 120)
        assert ours.shape == ref.shape == (1 + (len(x) - 400) // 160, 120), name
        assert np.abs(ours - ref).max() < 1e-3, name


def test_128_mel_filters_are_kaldis_triangles():
    """Kaldi's loop written out in float64: for each FFT bin strictly inside a triangle, its rising or falling edge."""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)
    lo, hi = mel(20.0), mel(8000.0)
    step = (hi - lo) / 129
    ref = np.zeros((128, 257))
    for m in range(128):
        left, center, right = lo + m * step, lo + (m + 1) * step, lo + (m + 2) * step
        for i in range(256):
            x = mel(31.25 * i)
            if left < x < right:
                ref[m, i] = (x - left) / (center - left) if x <= center else (right - x) / (right - center)
    assert np.abs(mel_banks().numpy() - ref).max() < 5e-5  # float32 mel values near 2800 are ~2e-4 apart


def test_fbank_128_matches_torchaudio_kaldi_values():
    """Reference values printed by torchaudio 2.11's `compliance.kaldi.fbank` with the authors' arguments."""
    t = np.arange(16000 * 2) / 16000
    x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (300 + 1500 * t) * t)
         + 0.001 * np.random.default_rng(1).standard_normal(t.size)).astype(np.float32)
    wave = torch.from_numpy(x)
    fbank = kaldi_fbank(wave - wave.mean())
    assert fbank.shape == (198, 128)
    expected = {
        0: [-7.39613, -12.98282, 0.94688, -10.45683, -7.69789, -7.0467],
        57: [-12.16068, -15.14644, -7.36291, -7.05251, -7.18144, -5.98496],
        196: [-12.88286, -15.65153, -7.43129, -9.34106, -7.02997, -6.088],
    }
    for frame, values in expected.items():
        got = fbank[frame, [0, 1, 17, 64, 100, 127]].numpy()
        assert np.abs(got - np.array(values)).max() < 1e-4, frame


def test_window_is_1024_frames_padded_before_normalizing():
    x = (np.random.default_rng(2).standard_normal(16000 * 3) * 0.1).astype(np.float32)
    window = fbank_window(x)
    raw = kaldi_fbank(torch.from_numpy(x) - torch.from_numpy(x).mean())
    assert window.shape == (1024, 128)
    assert torch.equal(window[: raw.shape[0]], (raw + 5.081) / 4.4849)
    assert torch.all(window[raw.shape[0]:] == torch.tensor(5.081 / 4.4849))
    long = (np.random.default_rng(3).standard_normal(16000 * 14) * 0.1).astype(np.float32)
    full = kaldi_fbank(torch.from_numpy(long) - torch.from_numpy(long).mean())
    assert torch.equal(fbank_window(long), (full[:1024] + 5.081) / 4.4849)  # cut on frames, not on samples
    later = fbank_window(long, 2.0)
    assert torch.allclose(later[:100], (full[200:300] + 5.081) / 4.4849, atol=1e-5)
    assert fbank_window(np.zeros(100, np.float32)).shape == (1024, 128)  # shorter than one frame: all padding


def _reference_tokens(sd: dict, fbank: torch.Tensor, heads: int = 12) -> torch.Tensor:
    """CAV-MAE's audio path and LTU's pooling written out from the recipe, on the file's tensors."""
    e = lambda k: sd[f"{PEFT_PREFIX}model.audio_encoder.{k}"]
    conv = e("patch_embed_a.proj.weight")
    image = fbank.T[None, None]  # [1, 1, mel, time]
    x = F.conv2d(image, conv, e("patch_embed_a.proj.bias"), stride=conv.shape[-2:])
    rows = x.shape[2]
    x = x.flatten(2)[0].T + e("pos_embed_a")[0] + e("modality_a")[0]
    n, width = x.shape
    ln = lambda t, p: F.layer_norm(t, (width,), e(f"{p}.weight"), e(f"{p}.bias"), eps=1e-5)

    def block(x, p, a, b):
        h = ln(x, f"{p}.{a}") @ e(f"{p}.attn.qkv.weight").T + e(f"{p}.attn.qkv.bias")
        q, k, v = h.reshape(n, 3, heads, width // heads).unbind(1)
        att = torch.softmax(torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(width // heads), dim=-1)
        o = torch.einsum("hqk,khd->qhd", att, v).reshape(n, width)
        x = x + o @ e(f"{p}.attn.proj.weight").T + e(f"{p}.attn.proj.bias")
        h = F.gelu(ln(x, f"{p}.{b}") @ e(f"{p}.mlp.fc1.weight").T + e(f"{p}.mlp.fc1.bias"))
        return x + h @ e(f"{p}.mlp.fc2.weight").T + e(f"{p}.mlp.fc2.bias")

    i = 0
    while f"{PEFT_PREFIX}model.audio_encoder.blocks_a.{i}.attn.qkv.weight" in sd:
        x = block(x, f"blocks_a.{i}", "norm1", "norm2")
        i += 1
    i = 0
    while f"{PEFT_PREFIX}model.audio_encoder.blocks_u.{i}.attn.qkv.weight" in sd:
        x = block(x, f"blocks_u.{i}", "norm1_a", "norm2_a")
        i += 1
    x = ln(x, "norm_a")
    per_row = x.reshape(rows, n // rows, width).mean(dim=0)  # token f * columns + t
    pairs = (per_row[0::2] + per_row[1::2]) / 2 / 50
    pairs = F.layer_norm(pairs, (width,), eps=1e-5)
    return pairs @ sd[f"{PEFT_PREFIX}model.audio_proj.1.weight"].T + sd[f"{PEFT_PREFIX}model.audio_proj.1.bias"]


def test_encoder_and_pooling_match_the_recipe(tmp_path):
    path = make_ltu_adapter(tmp_path / "ltu.bin")
    weights = read_ltu(path)
    cpu = torch.device("cpu")
    encoder, proj = build_encoder(weights, cpu, torch.float32), build_projection(weights, cpu, torch.float32)
    x = (np.random.default_rng(4).standard_normal(16000 * 5) * 0.1).astype(np.float32)
    fbank = fbank_window(x)
    with torch.no_grad():
        ours = pool_tokens(encoder(fbank[None]), weights.dims.rows, proj)[0]
    ref = _reference_tokens(torch.load(path, weights_only=True), fbank)
    assert ours.shape == ref.shape == (32, 64)
    assert torch.allclose(ours, ref, atol=2e-5, rtol=1e-4)


def _edit(path, tmp_path, change) -> object:
    sd = torch.load(path, weights_only=True)
    change(sd)
    out = tmp_path / "edited.bin"
    torch.save(sd, out)
    return out


def test_missing_and_misshapen_tensors_are_named_with_shapes(tmp_path):
    path = make_ltu_adapter(tmp_path / "ltu.bin")
    key = f"{PEFT_PREFIX}model.audio_encoder.blocks_a.1.norm1_v.bias"
    with pytest.raises(CheckpointError, match=r"missing 1 tensor.*blocks_a\.1\.norm1_v\.bias"):
        read_ltu(_edit(path, tmp_path, lambda sd: sd.pop(key)))
    qkv = f"{PEFT_PREFIX}model.audio_encoder.blocks_u.0.attn.qkv.weight"
    with pytest.raises(CheckpointError, match=r"blocks_u\.0\.attn\.qkv\.weight: expected \(144, 48\), found \(144, 40\)"):
        read_ltu(_edit(path, tmp_path, lambda sd: sd.__setitem__(qkv, torch.zeros(144, 40))))


def test_an_ltu_as_adapter_or_a_mixed_file_is_refused(tiny_profile, tmp_path):
    with pytest.raises(CheckpointError, match="not an LTU adapter: missing .*patch_embed_a"):
        read_ltu(tiny_profile.adapter)
    path = make_ltu_adapter(tmp_path / "ltu.bin")
    tltr = {k: v for k, v in torch.load(tiny_profile.adapter, weights_only=True).items() if ".time_tr." in k}
    with pytest.raises(CheckpointError, match="unexpected audio tensors \\(TLTR tensors of an LTU-AS adapter\\)"):
        read_ltu(_edit(path, tmp_path, lambda sd: sd.update(tltr)))


def test_released_shapes_count_93065216_trainable_parameters_without_allocating():
    """The number the authors' LTU training printed: LoRA r=8 on q/v of LLaMA-7B, CAV-MAE, projection."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32)
    with torch.device("meta"):
        llm = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
        encoder, proj = CAVMAEAudio(RELEASED_DIMS), audio_projection(768, 4096)
    lora = sum(p.numel() for p in llm.parameters() if p.requires_grad)
    audio = sum(p.numel() for m in (encoder, proj) for p in m.parameters())
    assert lora + audio == 93_065_216


@pytest.fixture(scope="module")
def ltu_profile(tiny_profile, tmp_path_factory):
    from ltu_desktop.models.tiny import make_tiny_ltu_profile

    return make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu"), tiny_profile.llm, tiny_profile.asr_whisper)


@pytest.mark.parametrize("name", ["bf16", "int8", "nf4"])
def test_every_cpu_precision_answers_with_ltu(ltu_profile, noise_audio, name):
    from ltu_desktop.engine.engine import Engine
    from ltu_desktop.engine.types import GenerationSettings

    if name == "nf4":
        pytest.importorskip("bitsandbytes")
    engine = Engine.load(ltu_profile, device="cpu", precision=name)
    assert engine.memory_estimate is not None and engine.memory_estimate.total_mb > 0
    clip = engine.prepare(noise_audio)
    list(engine.answer(clip, "Describe the sound.", settings=GenerationSettings(temperature=0, max_new_tokens=6)))
    assert engine.last_answer.token_ids and engine.last_answer.stats.precision == name


def test_the_ltu_full_finetune_replaces_the_llm_weights(ltu_profile, tmp_path, noise_audio):
    from dataclasses import replace

    from safetensors.torch import load_file

    from ltu_desktop.engine.engine import Engine
    from ltu_desktop.engine.types import GenerationSettings
    from ltu_desktop.models.tiny import make_ltu_adapter

    base = {k: v for k, v in load_file(str(ltu_profile.llm / "model.safetensors")).items()
            if not k.startswith("model.audio")}
    base["model.layers.0.mlp.down_proj.weight"] = base["model.layers.0.mlp.down_proj.weight"] * 1.5
    full = make_ltu_adapter(tmp_path / "full.bin", llm_state=base)
    engine = Engine.load(replace(ltu_profile, adapter=full), device="cpu", precision="fp32")
    assert any("Full fine-tune" in n for n in engine.notes)
    assert torch.equal(engine.lm.llm.model.layers[0].mlp.down_proj.weight,
                       base["model.layers.0.mlp.down_proj.weight"])
    list(engine.answer(engine.prepare(noise_audio), "Describe the sound.",
                       settings=GenerationSettings(temperature=0, max_new_tokens=4)))
    assert engine.last_answer.stats.new_tokens > 0
    del base["model.layers.1.mlp.gate_proj.weight"]
    with pytest.raises(CheckpointError, match="gate_proj"):
        Engine.load(replace(ltu_profile, adapter=make_ltu_adapter(tmp_path / "partial.bin", llm_state=base)),
                    device="cpu", precision="fp32")
