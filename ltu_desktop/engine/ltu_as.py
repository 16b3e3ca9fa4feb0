"""LTU-AS's audio half: Whisper large-v1 encoder states of a 10 s window -> TLTR -> projection (25 tokens).

Everything here follows the authors' training setup, which decides the numbers the adapter expects:
all 32 encoder blocks' outputs pooled by 20 over time, the time-and-layer transformer, and the
`alpaca_short` prompt with the Whisper transcript as its Input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import whisper
from torch import Tensor, nn
from whisper.model import AudioEncoder, MultiHeadAttention, ResidualAttentionBlock

from ..audio.io import Audio
from .checkpoints import PROJ_PREFIX, TLTR_PREFIX, read_adapter, read_whisper
from .family import AudioLM, Family, FrontEnd, Progress
from .llm import llama_with_adapter, lora_parameters
from .precision import Plan, to_dtype
from .prompt import ALPACA_HEAD, alpaca_short
from .types import CheckpointError, Profile

WINDOW_SECONDS = 10.0
WINDOW_FRAMES = 1000  # mel frames in 10 s (hop 10 ms)
POOL = 20  # encoder positions averaged into one audio token
FRAMES_PER_SECOND = 100
TIME_HEADS = 1
LAYER_HEADS = 8


class ExplicitAttention(MultiHeadAttention):
    """(q*s) @ (k*s)^T with an fp32 softmax, as the authors' pre-SDPA Whisper fork computed it.

    SDPA rounds differently in fp16 (1 step in ~20% of feature values), so the feature encoder and the
    TLTR use this form; the transcript Whisper keeps openai-whisper's faster SDPA.
    """

    def qkv_attention(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None):
        scale = (q.shape[-1] // self.n_head) ** -0.25
        q, k, v = (t.view(*t.shape[:2], self.n_head, -1).transpose(1, 2) for t in (q, k, v))
        qk = (q * scale) @ (k * scale).transpose(-1, -2)
        if mask is not None:
            qk = qk + mask[: q.shape[2], : q.shape[2]]
        w = qk.float().softmax(dim=-1).to(q.dtype)
        return (w @ v).transpose(1, 2).flatten(start_dim=2), None


def explicit_attention(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if type(m) is MultiHeadAttention:
            m.__class__ = ExplicitAttention
    return module


class TLTR(nn.Module):
    """Attend over time within each Whisper layer, then over layers at each time step, then average layers.

    The blocks are openai-whisper's own (no cross-attention; LayerNorm in fp32; key without bias),
    so the adapter's tensor names map one to one. Head counts are the authors' fixed 1 and 8.
    """

    def __init__(self, width: int):
        super().__init__()
        self.time_tr = ResidualAttentionBlock(width, TIME_HEADS)
        self.layer_tr = ResidualAttentionBlock(width, LAYER_HEADS)
        explicit_attention(self)

    def forward(self, x: Tensor) -> Tensor:
        b, n_layer, n_time, width = x.shape
        x = self.time_tr(x.reshape(b * n_layer, n_time, width))
        x = x.reshape(b, n_layer, n_time, width).transpose(1, 2).reshape(b * n_time, n_layer, width)
        x = self.layer_tr(x).mean(dim=1)
        return x.reshape(b, n_time, width)


def audio_projection(width: int, hidden: int) -> nn.Sequential:
    """LayerNorm without affine, then Linear to the LLM width (adapter keys `audio_proj.1.*`)."""
    return nn.Sequential(nn.LayerNorm(width, elementwise_affine=False), nn.Linear(width, hidden))


def load_encoder(path: Path, device: torch.device, dtype: torch.dtype) -> AudioEncoder:
    """Only the encoder of the feature Whisper is built: the decoder is never used for features."""
    ck = read_whisper(path, encoder_only=True)
    d = ck.dims
    enc = AudioEncoder(d["n_mels"], d["n_audio_ctx"], d["n_audio_state"], d["n_audio_head"], d["n_audio_layer"])
    state = {k[len("encoder."):]: v for k, v in ck.state.items() if k.startswith("encoder.")}
    state.setdefault("positional_embedding", enc.positional_embedding)
    if d["n_audio_ctx"] < WINDOW_FRAMES // 2:
        raise CheckpointError(f"{Path(path).name}: audio context {d['n_audio_ctx']} is shorter than a 10 s window.")
    enc.load_state_dict(state, strict=True)
    positions = enc.positional_embedding.float().clone()
    enc = to_dtype(explicit_attention(enc), dtype)
    enc.positional_embedding = positions  # the authors add it in fp32 (the checkpoint's values), then cast
    return enc.to(device).eval()


def window_mel(samples: np.ndarray, start_s: float, n_mels: int) -> Tensor:
    """Log-mel of the whole clip (its clamp sees the whole clip), then the 1000 frames from start_s.

    Past the end the mel is padded with 0.0 in the normalised log-mel domain, as pad_or_trim does.
    """
    mel = whisper.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(samples)), n_mels=n_mels)
    first = int(round(start_s * FRAMES_PER_SECOND))
    return whisper.pad_or_trim(mel[:, first:], WINDOW_FRAMES)


@torch.inference_mode()
def encoder_states(encoder: AudioEncoder, mel: Tensor) -> Tensor:
    """Output of every block (the input to block 0 is dropped; ln_post is not applied), pooled by 20.

    Stock AudioEncoder.forward insists on 30 s, so the forward is written out here over its modules.
    """
    dtype = encoder.conv1.weight.dtype
    x = mel.to(encoder.conv1.weight.device, dtype).unsqueeze(0)
    x = F.gelu(encoder.conv1(x))
    x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
    x = (x + encoder.positional_embedding[: x.shape[1]]).to(dtype)
    n_pos, width = x.shape[1], x.shape[2]
    pooled = []
    for block in encoder.blocks:
        x = block(x)
        pooled.append(x[0].float().reshape(n_pos // POOL, POOL, width).mean(dim=1))
    return torch.stack(pooled)


class LTUASFrontEnd(FrontEnd):
    window_seconds = WINDOW_SECONDS

    def __init__(self, encoder: AudioEncoder, tltr: TLTR, proj: nn.Sequential):
        super().__init__()
        self.encoder, self.tltr, self.proj = encoder, tltr, proj

    def features(self, audio: Audio, start: float) -> Tensor:
        """[n_layer, 25, width], kept as computed: the authors' CPU path feeds fp32 features to the fp32
        model, and their GPU path's cast to fp16 happens in `tokens`, where the TLTR takes its own dtype."""
        return encoder_states(self.encoder, window_mel(audio.samples, start, self.encoder.conv1.weight.shape[1]))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return len(self.encoder.blocks), WINDOW_FRAMES // 2 // POOL, self.encoder.conv1.weight.shape[0]

    @torch.inference_mode()
    def tokens(self, features: Tensor) -> Tensor:
        w = self.proj[1].weight
        return self(features.to(w.device, w.dtype).unsqueeze(0))

    def forward(self, features: Tensor) -> Tensor:
        """[batch, n_layer, 25, width] -> [batch, 25, hidden]; what fine-tuning trains through."""
        return self.proj(self.tltr(features))

    def trained_modules(self) -> dict[str, nn.Module]:
        """The audio modules fine-tuning trains, by their key prefix in the released adapter files."""
        return {TLTR_PREFIX: self.tltr, PROJ_PREFIX: self.proj}


def build_front(adapter, encoder: AudioEncoder, plan: Plan) -> LTUASFrontEnd:
    tltr = TLTR(adapter.width)
    tltr.load_state_dict(adapter.tltr, strict=True)
    proj = audio_projection(adapter.width, adapter.hidden)
    proj.load_state_dict(adapter.proj, strict=True)
    audio_dtype = plan.audio_dtype or plan.llm_dtype
    return LTUASFrontEnd(encoder, to_dtype(tltr, audio_dtype).to(plan.device).eval(),
                         proj.to(plan.device, audio_dtype).eval())


class LTUAS(Family):
    kind = "ltu-as"
    label = "LTU-AS"
    adapter_marker = "model.audio_encoder.time_tr."

    def load(self, profile: Profile, plan: Plan, notes: list[str], progress: Progress,
             base: AudioLM | None = None) -> tuple[AudioLM, object]:
        if profile.adapter is None or profile.feature_whisper is None:
            raise CheckpointError("An LTU-AS profile needs an adapter file and a feature Whisper checkpoint.")
        progress(f"Reading adapter {profile.adapter.name}", 0.05)
        adapter = read_adapter(profile.adapter)
        llm, adapter_name, tokenizer = llama_with_adapter(profile.llm, adapter, plan, profile.adapter.name, notes,
                                                          progress, base.llm if base is not None else None)
        progress(f"Reading the feature Whisper {profile.feature_whisper.name}", 0.8)
        encoder = load_encoder(profile.feature_whisper, plan.device, plan.feature_dtype)
        width = encoder.conv1.weight.shape[0]
        if width != adapter.width:
            raise CheckpointError(
                f"The feature Whisper {profile.feature_whisper.name} has width {width}, but the adapter "
                f"expects {adapter.width} (LTU-AS uses Whisper large-v1).")
        audio = sum(t.numel() for t in (*adapter.tltr.values(), *adapter.proj.values()))
        trainable = audio + (lora_parameters(adapter) if not adapter.full_finetune
                             else sum(p.numel() for p in llm.parameters()))
        return AudioLM(llm, build_front(adapter, encoder, plan), adapter_name, trainable), tokenizer

    def prompt(self, tokenizer, question: str, text_input: str) -> tuple[list[int], list[int], str]:
        prompt = alpaca_short(question, text_input)
        return tokenizer.encode(prompt), tokenizer.encode(ALPACA_HEAD), prompt
