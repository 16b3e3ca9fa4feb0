"""TLTR, the time-and-layer transformer that turns Whisper's layer stack into 25 audio tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from whisper.model import MultiHeadAttention, ResidualAttentionBlock

TIME_HEADS = 1
LAYER_HEADS = 8

# The authors' Whisper fork predates SDPA: its attention is (q*s) @ (k*s)^T with an fp32 softmax. Current
# openai-whisper switches to SDPA by default, which rounds differently in fp16 (1 step in ~20% of feature
# values), so every Whisper block here (features, TLTR, transcripts) runs the explicit form.
MultiHeadAttention.use_sdpa = False


class TLTR(nn.Module):
    """Attend over time within each Whisper layer, then over layers at each time step, then average layers.

    The blocks are openai-whisper's own (no cross-attention; LayerNorm in fp32; key without bias),
    so the adapter's tensor names map one to one. Head counts are the authors' fixed 1 and 8.
    """

    def __init__(self, width: int):
        super().__init__()
        self.time_tr = ResidualAttentionBlock(width, TIME_HEADS)
        self.layer_tr = ResidualAttentionBlock(width, LAYER_HEADS)

    def forward(self, x: Tensor) -> Tensor:
        b, n_layer, n_time, width = x.shape
        x = self.time_tr(x.reshape(b * n_layer, n_time, width))
        x = x.reshape(b, n_layer, n_time, width).transpose(1, 2).reshape(b * n_time, n_layer, width)
        x = self.layer_tr(x).mean(dim=1)
        return x.reshape(b, n_time, width)


def audio_projection(width: int, hidden: int) -> nn.Sequential:
    """LayerNorm without affine, then Linear to the LLM width (adapter keys `audio_proj.1.*`)."""
    return nn.Sequential(nn.LayerNorm(width, elementwise_affine=False), nn.Linear(width, hidden))


def to_dtype(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Cast everything but the LayerNorms, which Whisper computes in fp32 and which keep their fp32 values
    (not fp32 copies of fp16 roundings): the authors cast them back before loading the fp32 adapter."""
    norms = [(m, {k: v.float().clone() for k, v in m.state_dict().items()})
             for m in module.modules() if isinstance(m, nn.LayerNorm)]
    module.to(dtype)
    for norm, values in norms:
        norm.float().load_state_dict(values)
    return module
