"""Each step of the engine against an independent computation written from the recipe in plain torch/numpy."""

from __future__ import annotations

import math

import numpy as np
import torch
import whisper
from safetensors.torch import load_file

from ltu_desktop.engine.ltu_as import encoder_states, window_mel
from ltu_desktop.engine.prompt import alpaca_short
from ltu_desktop.engine.types import GenerationSettings


def _attention(x, w, prefix, n_head):
    """The authors' qkv_attention: q and k each scaled by head_dim^-0.25, softmax in fp32, no mask."""
    q = x @ w[f"{prefix}.query.weight"].T + w[f"{prefix}.query.bias"]
    k = x @ w[f"{prefix}.key.weight"].T
    v = x @ w[f"{prefix}.value.weight"].T + w[f"{prefix}.value.bias"]
    b, n, d = q.shape
    scale = (d // n_head) ** -0.25
    q = q.view(b, n, n_head, -1).permute(0, 2, 1, 3) * scale
    k = k.view(b, n, n_head, -1).permute(0, 2, 3, 1) * scale
    v = v.view(b, n, n_head, -1).permute(0, 2, 1, 3)
    att = torch.softmax((q @ k).float(), dim=-1)
    out = (att @ v).permute(0, 2, 1, 3).reshape(b, n, d)
    return out @ w[f"{prefix}.out.weight"].T + w[f"{prefix}.out.bias"]


def _block(x, w, prefix, n_head):
    ln = lambda t, name: torch.nn.functional.layer_norm(t, t.shape[-1:], w[f"{prefix}.{name}.weight"],
                                                        w[f"{prefix}.{name}.bias"])
    x = x + _attention(ln(x, "attn_ln"), w, f"{prefix}.attn", n_head)
    h = ln(x, "mlp_ln") @ w[f"{prefix}.mlp.0.weight"].T + w[f"{prefix}.mlp.0.bias"]
    h = torch.nn.functional.gelu(h)
    return x + h @ w[f"{prefix}.mlp.2.weight"].T + w[f"{prefix}.mlp.2.bias"]


def _authors_features(ckpt_path, samples):
    """Stack all 33 states as [B, T, W, L], permute to [L, T, W], numpy block-mean by 20, drop state 0."""
    ck = torch.load(ckpt_path, weights_only=True)
    w = {k: v.float() for k, v in ck["model_state_dict"].items()}
    heads = ck["dims"]["n_audio_head"]
    mel = whisper.pad_or_trim(whisper.log_mel_spectrogram(torch.from_numpy(samples)), 1000).unsqueeze(0)
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(mel, w["encoder.conv1.weight"], w["encoder.conv1.bias"],
                                                            padding=1))
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, w["encoder.conv2.weight"], w["encoder.conv2.bias"],
                                                            stride=2, padding=1)).permute(0, 2, 1)
    x = x + w["encoder.positional_embedding"][: x.shape[1]]
    states = []
    for i in range(ck["dims"]["n_audio_layer"]):
        states.append(x)
        x = _block(x, w, f"encoder.blocks.{i}", heads)
    states.append(x)
    stacked = torch.stack(states, dim=3)[0].permute(2, 0, 1).numpy()
    pooled = stacked.reshape(stacked.shape[0], 25, 20, stacked.shape[2]).mean(axis=2)
    return torch.from_numpy(pooled[1:])


def _tltr(feats, w):
    n_layer, n_time, width = feats.shape
    x = _block(feats, w, "time_tr", 1)
    x = x.permute(1, 0, 2)
    x = _block(x, w, "layer_tr", 8).mean(dim=1)
    return x.unsqueeze(0)


def _rms(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def _llama_last_logits(embeds, base, lora, cfg, scale):
    """LLaMA written out: RMSNorm, rotary (half split), grouped KV heads, causal softmax, SwiGLU; LoRA unmerged."""
    n, hidden = embeds.shape[1], cfg["hidden_size"]
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = hidden // heads
    pos = torch.arange(n, dtype=torch.float32)
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.cat([pos[:, None] * inv[None], pos[:, None] * inv[None]], dim=-1)
    cos, sin = ang.cos(), ang.sin()
    rot = lambda t: torch.cat([-t[..., hd // 2:], t[..., : hd // 2]], dim=-1)
    x = embeds[0]
    eps = cfg["rms_norm_eps"]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = _rms(x, base[f"{p}.input_layernorm.weight"], eps)

        def proj(name):
            y = h @ base[f"{p}.self_attn.{name}_proj.weight"].T
            if (i, name) in lora:
                a, b = lora[(i, name)]
                y = y + (h @ a.T) @ b.T * scale
            return y

        q = proj("q").view(n, heads, hd).transpose(0, 1)
        k = proj("k").view(n, kv, hd).transpose(0, 1).repeat_interleave(heads // kv, dim=0)
        v = proj("v").view(n, kv, hd).transpose(0, 1).repeat_interleave(heads // kv, dim=0)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        s = q @ k.transpose(1, 2) / math.sqrt(hd) + torch.full((n, n), float("-inf")).triu(1)
        o = (torch.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(n, hidden)
        x = x + o @ base[f"{p}.self_attn.o_proj.weight"].T
        h = _rms(x, base[f"{p}.post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(h @ base[f"{p}.mlp.gate_proj.weight"].T) * (h @ base[f"{p}.mlp.up_proj.weight"].T)
        x = x + g @ base[f"{p}.mlp.down_proj.weight"].T
    x = _rms(x, base["model.norm.weight"], eps)
    return x[-1] @ base["lm_head.weight"].T


def test_mel_window_is_whole_clip_mel_then_trimmed_and_zero_padded(noise_audio):
    full = whisper.log_mel_spectrogram(torch.from_numpy(noise_audio.samples))
    assert torch.equal(window_mel(noise_audio.samples, 0.0, 80), whisper.pad_or_trim(full, 1000))
    shifted = window_mel(noise_audio.samples, 2.0, 80)
    assert torch.equal(shifted, full[:, 200:1200])
    short = window_mel(noise_audio.samples[: 16000 * 4], 0.0, 80)
    assert short.shape == (80, 1000) and torch.all(short[:, 401:] == 0.0)


def test_mel_clamp_sees_the_whole_clip():
    quiet = np.full(16000 * 20, 1e-4, dtype=np.float32)
    quiet[16000 * 15:] = np.sin(np.arange(16000 * 5) / 3.0).astype(np.float32)
    inside = window_mel(quiet, 0.0, 80)
    alone = window_mel(quiet[: 16000 * 10].copy(), 0.0, 80)
    assert not torch.allclose(inside, alone)


def test_features_match_the_authors_stack_pool_and_drop(tiny_engine, tiny_profile, noise_audio):
    ours = encoder_states(tiny_engine.lm.front.encoder, window_mel(noise_audio.samples, 0.0, 80))
    ref = _authors_features(tiny_profile.feature_whisper, noise_audio.samples)
    assert ours.shape == ref.shape == (3, 25, 64)
    assert torch.allclose(ours, ref, atol=2e-5, rtol=1e-4)


def test_tltr_and_projection_match_plain_computation(tiny_engine, tiny_profile, noise_audio):
    sd = torch.load(tiny_profile.adapter, weights_only=True)
    w = {k.split("audio_encoder.", 1)[1]: v for k, v in sd.items() if "audio_encoder." in k}
    feats = tiny_engine.prepare(noise_audio).features.float()
    x = _tltr(feats, w)
    x = torch.nn.functional.layer_norm(x, x.shape[-1:])
    ref = x @ sd["base_model.model.model.audio_proj.1.weight"].T + sd["base_model.model.model.audio_proj.1.bias"]
    assert torch.allclose(tiny_engine.lm.audio_tokens(feats), ref, atol=1e-5, rtol=1e-4)


def test_first_step_logits_and_greedy_tokens_match_plain_llama(tiny_engine, tiny_profile, noise_audio):
    import json

    sd = torch.load(tiny_profile.adapter, weights_only=True)
    base = load_file(str(tiny_profile.llm / "model.safetensors"))
    cfg = json.loads((tiny_profile.llm / "config.json").read_text())
    lora = {}
    for i in range(cfg["num_hidden_layers"]):
        for p in ("q", "v"):
            pre = f"base_model.model.model.layers.{i}.self_attn.{p}_proj"
            lora[(i, p)] = (sd[f"{pre}.lora_A.default.weight"], sd[f"{pre}.lora_B.default.weight"])
    scale = 16 / sd["base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"].shape[0]
    clip = tiny_engine.prepare(noise_audio)
    question, transcript = "What can be inferred from the spoken text and sounds?", "the meeting is on monday"
    ids = tiny_engine.tokenizer.encode(alpaca_short(question, transcript))
    assert ids[0] == 1
    audio = tiny_engine.lm.audio_tokens(clip.features)
    tokens: list[int] = []
    for _ in range(6):
        embeds = torch.cat([audio, base["model.embed_tokens.weight"][ids + tokens][None]], dim=1)
        logits = _llama_last_logits(embeds, base, lora, cfg, scale)
        seen = torch.tensor(ids + tokens)
        picked = logits[seen]
        logits[seen] = torch.where(picked < 0, picked * 1.1, picked / 1.1)
        tokens.append(int(logits.argmax()))
    s = GenerationSettings(temperature=0, repetition_penalty=1.1, max_new_tokens=6)
    list(tiny_engine.answer(clip, question, transcript=transcript, settings=s))
    assert tiny_engine.last_answer.token_ids == [t for t in tokens if t != 2][: len(tiny_engine.last_answer.token_ids)]
    assert len(tiny_engine.last_answer.token_ids) == (tokens.index(2) if 2 in tokens else 6)


def test_explicit_attention_is_for_the_feature_encoder_only(tiny_engine):
    """The authors' attention form for features and TLTR; the transcript Whisper keeps openai-whisper's SDPA."""
    from whisper.model import MultiHeadAttention

    from ltu_desktop.engine.ltu_as import ExplicitAttention

    front = tiny_engine.lm.front
    feature_attn = [m for m in (*front.encoder.modules(), *front.tltr.modules()) if isinstance(m, MultiHeadAttention)]
    asr_attn = [m for m in tiny_engine.transcriber.model.modules() if isinstance(m, MultiHeadAttention)]
    assert feature_attn and all(type(m) is ExplicitAttention for m in feature_attn)
    assert asr_attn and not any(isinstance(m, ExplicitAttention) for m in asr_attn)
    assert MultiHeadAttention.use_sdpa
