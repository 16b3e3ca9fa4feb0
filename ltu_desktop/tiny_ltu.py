"""Tiny LTU checkpoints: CAV-MAE + projection + LoRA under the released key names, random weights."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from .engine.checkpoints import PEFT_PREFIX
from .engine.ltu import CAVMAEAudio, EncoderDims, audio_projection
from .engine.types import Profile

TINY_LTU_DIMS = EncoderDims(width=48, patch=(16, 16), patches=512, inner=96, audio_blocks=2, shared_blocks=1)


def sincos_2d(width: int, rows: int, columns: int) -> torch.Tensor:
    """A fixed 2-D sin-cos table [rows * columns, width], row-major: half the channels code the row."""
    quarter = width // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    r, c = torch.meshgrid(torch.arange(rows, dtype=torch.float64), torch.arange(columns, dtype=torch.float64),
                          indexing="ij")
    parts = [f(p.reshape(-1, 1) * freqs) for p in (c, r) for f in (torch.sin, torch.cos)]
    return torch.cat(parts, dim=1).float()


def make_ltu_adapter(path: Path, *, dims: EncoderDims = TINY_LTU_DIMS, hidden: int = 64, layers: int = 2,
                     heads: int = 4, kv_heads: int = 2, rank: int = 4, seed: int = 5,
                     llm_state: dict[str, torch.Tensor] | None = None) -> Path:
    """`ltu_ori_paper.bin`'s layout (peft 0.3 names, fp32); with `llm_state`, a full fine-tune's."""
    torch.manual_seed(seed)
    encoder, proj = CAVMAEAudio(dims), audio_projection(dims.width, hidden)
    with torch.no_grad():
        for name, p in list(encoder.named_parameters()) + list(proj.named_parameters()):
            if name.endswith("weight") and p.ndim == 1:
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif p.ndim == 1:
                p.copy_(0.05 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / math.sqrt(p[0].numel()))
        encoder.pos_embed_a.copy_(sincos_2d(dims.width, dims.rows, dims.columns).unsqueeze(0))
        encoder.modality_a.normal_(0, 0.02)
    sd = {f"{PEFT_PREFIX}model.audio_encoder.{k}": v.contiguous() for k, v in encoder.state_dict().items()}
    sd |= {f"{PEFT_PREFIX}model.audio_proj.{k}": v for k, v in proj.state_dict().items()}
    head_dim = hidden // heads
    for i in range(layers):
        for p, out in (("q", heads * head_dim), ("v", kv_heads * head_dim)):
            base = f"{PEFT_PREFIX}model.layers.{i}.self_attn.{p}_proj"
            sd[f"{base}.lora_A.default.weight"] = torch.randn(rank, hidden) * 0.3
            sd[f"{base}.lora_B.default.weight"] = torch.randn(out, rank) * 0.3
    if llm_state:
        sd |= {f"{PEFT_PREFIX}{k}": v for k, v in llm_state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return path


def make_tiny_ltu_profile(folder: Path, llm: Path | None = None, asr_whisper: Path | None = None) -> Profile:
    """A tiny LTU profile: base LLM folder + adapter (+ a Whisper for the transcript it shows but never reads).

    Given the LLM folder of a tiny LTU-AS profile, both share one base, as `vicuna_ltu` and `vicuna_ltuas` do."""
    from .testing import make_llm, make_whisper

    folder = Path(folder)
    adapter = folder / "ltu_adapter.bin"
    if llm is None:
        llm = folder / "llm"
        if not (llm / "config.json").exists():
            make_llm(llm)
    if asr_whisper is None:
        asr_whisper = folder / "whisper-asr.pt"
        if not asr_whisper.exists():
            make_whisper(asr_whisper, mute_decoder=True, seed=3)
    if not adapter.exists():
        make_ltu_adapter(adapter)
    return Profile("tiny-ltu", llm, asr_whisper, None, adapter, kind="ltu",
                   label="Tiny random LTU (for tests and benchmarks; its answers are noise)")
