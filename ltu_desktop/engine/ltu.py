"""LTU (Gong et al. 2023), the first-generation model: Kaldi fbank -> CAV-MAE audio encoder -> 32 audio tokens.

LTU hears sound events and music; it reads no transcript. Its adapter file holds CAV-MAE's audio
branch (a ViT over 16x16 patches of the filterbank), the projection into the LLM and the LoRA
weights, all under the peft-0.3 names of the authors' transformers fork (`base_model.model.model.
audio_encoder.*`). Every width and block count is read from the file; only the head count (12)
and the pooling constants are the authors' fixed values, as in their code.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..audio.io import Audio
from .checkpoints import LORA_KEY, PEFT_PREFIX, load_pickled
from .family import AudioLM, Family, FrontEnd, Progress
from .llm import llama_with_adapter, lora_parameters
from .precision import Plan
from .prompt import ALPACA_HEAD, alpaca_short
from .types import CheckpointError, Profile

SAMPLE_RATE = 16_000
N_MELS = 128
FRAMES = 1024  # what the encoder sees: 10.24 s of 10 ms frames
FRAME_LENGTH, FRAME_SHIFT, N_FFT = 400, 160, 512  # 25 ms, 10 ms, Kaldi's round_to_power_of_two
WINDOW_SECONDS = FRAMES * FRAME_SHIFT / SAMPLE_RATE
WINDOW_SAMPLES = (FRAMES - 1) * FRAME_SHIFT + FRAME_LENGTH  # every sample frames 0..1023 read (10.255 s)
FBANK_SHIFT, FBANK_SCALE = 5.081, 4.4849  # the authors' normalization: (fbank + 5.081) / 4.4849
PREEMPHASIS = 0.97
LOW_FREQ = 20.0
HEADS = 12  # CAV-MAE's ViT-B; not stored in the checkpoint
POOL_DIVISOR = 50.0  # the authors' "hard norm" before the projection
LN_EPS = 1e-5

ENCODER_PREFIX = "model.audio_encoder."
PROJ_PREFIX = "model.audio_proj."
_NORMS = ("norm1", "norm1_a", "norm1_v", "norm2", "norm2_a", "norm2_v")


# ---------------------------------------------------------------- filterbank

def _mel(freq: Tensor | float) -> Tensor | float:
    if isinstance(freq, Tensor):
        return 1127.0 * torch.log(1.0 + freq / 700.0)
    return 1127.0 * math.log(1.0 + freq / 700.0)


def mel_banks(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
              low: float = LOW_FREQ, high: float = 0.0) -> Tensor:
    """Kaldi's triangular HTK-mel filters [n_mels, n_fft // 2 + 1], in float32 as Kaldi-compatible code
    computes them (the Nyquist bin gets no weight); `high` <= 0 counts down from Nyquist."""
    high = high if high > 0 else SAMPLE_RATE / 2 + high
    lo, hi = _mel(low), _mel(high)
    step = (hi - lo) / (n_mels + 1)
    edge = torch.arange(n_mels).unsqueeze(1)
    left, center, right = lo + edge * step, lo + (edge + 1.0) * step, lo + (edge + 2.0) * step
    bins = _mel(sample_rate / n_fft * torch.arange(n_fft // 2, dtype=torch.float32)).unsqueeze(0)
    rising = (bins - left) / (center - left)
    falling = (right - bins) / (right - center)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    return F.pad(weights, (0, 1))


@functools.lru_cache(maxsize=4)
def _banks(n_mels: int) -> Tensor:
    return mel_banks(n_mels)


def kaldi_fbank(wave: Tensor, n_mels: int = N_MELS) -> Tensor:
    """Log-mel filterbank [n_frames, 128] of a 16 kHz float32 waveform with Kaldi's conventions as LTU used
    them: snip_edges framing, per-frame DC removal, pre-emphasis 0.97 (the first sample repeats itself),
    symmetric Hann window (not "povey"), 512-point power spectrum, log floored at float32 epsilon; no
    dither, no energy. Equal to `torchaudio.compliance.kaldi.fbank(..., htk_compat=True, use_energy=False,
    window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)`."""
    wave = wave.to(torch.float32).reshape(-1)
    n = 1 + (wave.numel() - FRAME_LENGTH) // FRAME_SHIFT if wave.numel() >= FRAME_LENGTH else 0
    if n == 0:
        return wave.new_zeros(0, n_mels)
    frames = wave.as_strided((n, FRAME_LENGTH), (FRAME_SHIFT, 1))
    frames = frames - frames.mean(dim=1, keepdim=True)
    previous = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - PREEMPHASIS * previous
    frames = frames * torch.hann_window(FRAME_LENGTH, periodic=False, dtype=torch.float32).unsqueeze(0)
    frames = F.pad(frames, (0, N_FFT - FRAME_LENGTH))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    energies = torch.mm(power, _banks(n_mels).T)
    return torch.clamp(energies, min=torch.finfo(torch.float32).eps).log()


def fbank_window(samples: np.ndarray, start_s: float = 0.0) -> Tensor:
    """The normalized [1024, 128] input LTU hears from `start_s`: the clip minus its mean (the whole clip's,
    as the authors subtract it before framing), framed from the window's first sample, padded with zero
    frames or cut to 1024 frames, and only then normalized (padded frames end up at 5.081 / 4.4849)."""
    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    wave = wave - wave.mean()
    first = max(0, int(round(start_s * SAMPLE_RATE)))
    fbank = kaldi_fbank(wave[first:first + WINDOW_SAMPLES])[:FRAMES]
    fbank = F.pad(fbank, (0, 0, 0, FRAMES - fbank.shape[0]))
    return (fbank + FBANK_SHIFT) / FBANK_SCALE


# ---------------------------------------------------------------- CAV-MAE audio branch

class Attention(nn.Module):
    """timm 0.4's ViT attention: fused qkv with bias, (q @ k^T) * head_dim^-0.5, softmax in the input dtype."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        weights = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, width: int, inner: int):
        super().__init__()
        self.fc1 = nn.Linear(width, inner)
        self.fc2 = nn.Linear(inner, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """A CAV-MAE block: one set of norms per modality (none, audio, video), shared attention and MLP.

    Audio-only blocks use `norm1`/`norm2`; the shared blocks use `norm1_a`/`norm2_a` for audio. The video
    norms are never used here but are part of the released file, so they load and count like the rest."""

    def __init__(self, width: int, inner: int, heads: int):
        super().__init__()
        for name in _NORMS:
            setattr(self, name, nn.LayerNorm(width, eps=LN_EPS))
        self.attn = Attention(width, heads)
        self.mlp = Mlp(width, inner)

    def forward(self, x: Tensor, modality: str = "") -> Tensor:
        suffix = f"_{modality}" if modality else ""
        x = x + self.attn(getattr(self, f"norm1{suffix}")(x))
        return x + self.mlp(getattr(self, f"norm2{suffix}")(x))


@dataclass(frozen=True)
class EncoderDims:
    width: int
    patch: tuple[int, int]  # (frequency, time) patch size
    patches: int  # positions in pos_embed_a
    inner: int  # MLP width
    audio_blocks: int
    shared_blocks: int

    @property
    def rows(self) -> int:
        """Patch rows along frequency (8 for 128 mel bins and 16x16 patches)."""
        return N_MELS // self.patch[0]

    @property
    def columns(self) -> int:
        return FRAMES // self.patch[1]


# ltu_ori_paper.bin: ViT-B, 16x16 patches of 1024 frames x 128 bins, 11 audio blocks and 1 shared block.
RELEASED_DIMS = EncoderDims(width=768, patch=(16, 16), patches=512, inner=3072, audio_blocks=11, shared_blocks=1)


class CAVMAEAudio(nn.Module):
    """[B, 1024, 128] normalized fbank -> [B, patches, width]: patches of the (frequency x time) image,
    flattened frequency-major, plus the checkpoint's 2-D sin-cos positions and the audio modality vector,
    then the audio blocks, the shared blocks in their audio mode, and the final norm."""

    def __init__(self, dims: EncoderDims, heads: int = HEADS):
        super().__init__()
        self.dims = dims
        self.patch_embed_a = nn.Module()
        self.patch_embed_a.proj = nn.Conv2d(1, dims.width, kernel_size=dims.patch, stride=dims.patch)
        self.pos_embed_a = nn.Parameter(torch.zeros(1, dims.patches, dims.width))
        self.modality_a = nn.Parameter(torch.zeros(1, 1, dims.width))
        self.blocks_a = nn.ModuleList(Block(dims.width, dims.inner, heads) for _ in range(dims.audio_blocks))
        self.blocks_u = nn.ModuleList(Block(dims.width, dims.inner, heads) for _ in range(dims.shared_blocks))
        self.norm_a = nn.LayerNorm(dims.width, eps=LN_EPS)

    def forward(self, fbank: Tensor) -> Tensor:
        x = self.patch_embed_a.proj(fbank.unsqueeze(1).transpose(2, 3))  # frequency is the height, time the width
        x = x.flatten(2).transpose(1, 2) + self.pos_embed_a + self.modality_a
        for block in self.blocks_a:
            x = block(x)
        for block in self.blocks_u:
            x = block(x, "a")
        return self.norm_a(x)


def audio_projection(width: int, hidden: int) -> nn.Sequential:
    """LayerNorm without affine, then Linear to the LLM width (adapter keys `audio_proj.1.*`)."""
    return nn.Sequential(nn.LayerNorm(width, eps=LN_EPS, elementwise_affine=False), nn.Linear(width, hidden))


def pool_tokens(states: Tensor, rows: int, proj: nn.Sequential) -> Tensor:
    """[B, rows * columns, width] encoder states -> [B, columns / 2, hidden] LLM inputs: mean over the
    frequency rows, average of each pair of time columns, divided by 50, normalized, projected."""
    b, n, width = states.shape
    x = states.reshape(b, rows, n // rows, width).mean(dim=1)
    x = F.avg_pool2d(x, (2, 1))
    return proj(x / POOL_DIVISOR)


# ---------------------------------------------------------------- the adapter file, read strictly

def _block_shapes(width: int, inner: int) -> dict[str, tuple[int, ...]]:
    shapes = {f"{n}.{p}": (width,) for n in _NORMS for p in ("weight", "bias")}
    return shapes | {
        "attn.qkv.weight": (3 * width, width), "attn.qkv.bias": (3 * width,),
        "attn.proj.weight": (width, width), "attn.proj.bias": (width,),
        "mlp.fc1.weight": (inner, width), "mlp.fc1.bias": (inner,),
        "mlp.fc2.weight": (width, inner), "mlp.fc2.bias": (width,),
    }


def expected_shapes(dims: EncoderDims, hidden: int) -> dict[str, tuple[int, ...]]:
    """Every audio tensor an LTU file must hold, by its name in the file (without `base_model.model.`)."""
    w = dims.width
    want: dict[str, tuple[int, ...]] = {
        f"{ENCODER_PREFIX}patch_embed_a.proj.weight": (w, 1, *dims.patch),
        f"{ENCODER_PREFIX}patch_embed_a.proj.bias": (w,),
        f"{ENCODER_PREFIX}pos_embed_a": (1, dims.patches, w),
        f"{ENCODER_PREFIX}modality_a": (1, 1, w),
        f"{ENCODER_PREFIX}norm_a.weight": (w,), f"{ENCODER_PREFIX}norm_a.bias": (w,),
        f"{PROJ_PREFIX}1.weight": (hidden, w), f"{PROJ_PREFIX}1.bias": (hidden,),
    }
    block = _block_shapes(w, dims.inner)
    for group, count in (("blocks_a", dims.audio_blocks), ("blocks_u", dims.shared_blocks)):
        for i in range(count):
            want |= {f"{ENCODER_PREFIX}{group}.{i}.{k}": s for k, s in block.items()}
    return want


@dataclass
class LTUWeights:
    """The parts of an LTU adapter or full fine-tune, with the encoder's sizes read from its tensors."""

    encoder: dict[str, Tensor]
    proj: dict[str, Tensor]
    lora: dict[tuple[int, str, str], Tensor]
    llm: dict[str, Tensor]
    dims: EncoderDims
    hidden: int
    lora_rank: int | None

    @property
    def full_finetune(self) -> bool:
        return bool(self.llm)

    def audio_parameters(self) -> int:
        return sum(t.numel() for t in (*self.encoder.values(), *self.proj.values()))


def _count(keys, pattern: str) -> int:
    found = {int(m[1]) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def _dims(sd: dict[str, Tensor], name: str) -> tuple[EncoderDims, int]:
    """Sizes from the few tensors that carry them; a file lacking those is named as not LTU."""
    carriers = [f"{ENCODER_PREFIX}patch_embed_a.proj.weight", f"{ENCODER_PREFIX}pos_embed_a",
                f"{ENCODER_PREFIX}blocks_a.0.mlp.fc1.weight", f"{PROJ_PREFIX}1.weight"]
    absent = [k for k in carriers if k not in sd]
    if absent:
        raise CheckpointError(f"{name} is not an LTU adapter: missing " + ", ".join(PEFT_PREFIX + k for k in absent))
    conv = sd[carriers[0]]
    if conv.ndim != 4:
        raise CheckpointError(f"{name}: {PEFT_PREFIX}{carriers[0]} has shape {tuple(conv.shape)} "
                              "(expected (width, 1, patch, patch))")
    dims = EncoderDims(
        width=conv.shape[0], patch=(conv.shape[2], conv.shape[3]), patches=sd[carriers[1]].shape[-2],
        inner=sd[carriers[2]].shape[0], audio_blocks=_count(sd, rf"^{re.escape(ENCODER_PREFIX)}blocks_a\.(\d+)\."),
        shared_blocks=_count(sd, rf"^{re.escape(ENCODER_PREFIX)}blocks_u\.(\d+)\."),
    )
    if N_MELS % dims.patch[0] or FRAMES % dims.patch[1] or dims.rows * dims.columns != dims.patches:
        raise CheckpointError(
            f"{name}: {dims.patches} positions in pos_embed_a do not tile a {FRAMES} x {N_MELS} filterbank "
            f"with {dims.patch[0]}x{dims.patch[1]} patches (expected {(N_MELS // dims.patch[0]) * (FRAMES // dims.patch[1])})")
    if dims.columns % 2 or dims.width % HEADS:
        raise CheckpointError(f"{name}: an encoder of width {dims.width} with {dims.columns} time columns cannot "
                              f"be pooled into LTU's audio tokens ({HEADS} heads, pairs of columns).")
    return dims, sd[carriers[3]].shape[0]


def split_ltu(sd: dict[str, Tensor], name: str) -> LTUWeights:
    """Check every audio tensor by name and shape, then split encoder, projection, LoRA and LLM weights."""
    dims, hidden = _dims(sd, name)
    want = expected_shapes(dims, hidden)
    missing = [k for k in want if k not in sd]
    wrong = [f"{PEFT_PREFIX}{k}: expected {s}, found {tuple(sd[k].shape)}"
             for k, s in want.items() if k in sd and tuple(sd[k].shape) != s]
    unknown = [k for k in sd if k.startswith((ENCODER_PREFIX, PROJ_PREFIX)) and k not in want]
    if missing or wrong or unknown:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s): " + ", ".join(PEFT_PREFIX + k for k in missing[:6])
                         + (" ..." if len(missing) > 6 else ""))
        if wrong:
            parts.append("misshapen: " + "; ".join(wrong[:6]) + (" ..." if len(wrong) > 6 else ""))
        if unknown:
            mixed = " (TLTR tensors of an LTU-AS adapter)" if any(".time_tr." in k or ".layer_tr." in k
                                                                   for k in unknown) else ""
            parts.append(f"unexpected audio tensors{mixed}: " + ", ".join(PEFT_PREFIX + k for k in unknown[:4]))
        raise CheckpointError(f"{name} is not a whole LTU adapter: " + "; ".join(parts))
    encoder = {k[len(ENCODER_PREFIX):]: v for k, v in sd.items() if k.startswith(ENCODER_PREFIX)}
    proj = {k[len(PROJ_PREFIX):]: v for k, v in sd.items() if k.startswith(PROJ_PREFIX)}
    lora: dict[tuple[int, str, str], Tensor] = {}
    llm: dict[str, Tensor] = {}
    for k, v in sd.items():
        if k.startswith((ENCODER_PREFIX, PROJ_PREFIX)):
            continue
        if m := LORA_KEY.match(k):
            lora[(int(m[1]), m[2], m[3])] = v
        elif "lora_" not in k:
            llm[k] = v
    ranks = {v.shape[0] for (_, _, ab), v in lora.items() if ab == "A"}
    if len(ranks) > 1:
        raise CheckpointError(f"{name}: LoRA ranks differ between layers: {sorted(ranks)}")
    return LTUWeights(encoder, proj, lora, llm, dims, hidden, ranks.pop() if ranks else None)


def read_ltu(path: Path) -> LTUWeights:
    """An LTU adapter (`ltu_ori_paper.bin`) or full fine-tune (`full_ft_2e-5_20000.bin`), checked strictly."""
    raw = load_pickled(path, "Adapter")
    bad = [k for k, v in raw.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{Path(path).name} is not an LTU adapter: it holds entries that are not tensors: "
                              + ", ".join(map(str, bad[:5])))
    sd = {(k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k): v for k, v in raw.items()}
    return split_ltu(sd, Path(path).name)


def build_encoder(weights: LTUWeights, device: torch.device, dtype: torch.dtype) -> CAVMAEAudio:
    """The whole module in one dtype, LayerNorms included: the authors' fp16 GPU model rounds them too."""
    encoder = CAVMAEAudio(weights.dims)
    encoder.load_state_dict(weights.encoder, strict=True)
    return encoder.to(device, dtype).eval()


def build_projection(weights: LTUWeights, device: torch.device, dtype: torch.dtype) -> nn.Sequential:
    proj = audio_projection(weights.dims.width, weights.hidden)
    proj.load_state_dict(weights.proj, strict=True)
    return proj.to(device, dtype).eval()


class LTUFrontEnd(FrontEnd):
    """What LTU hears of a clip: the fbank of 10.24 s from the window's start through CAV-MAE (the cached
    features), then the pooling and projection into 32 LLM inputs."""

    window_seconds = WINDOW_SECONDS

    def __init__(self, encoder: CAVMAEAudio, proj: nn.Sequential):
        super().__init__()
        self.encoder = encoder
        self.proj = proj

    @torch.inference_mode()
    def features(self, audio: Audio, start: float) -> Tensor:
        """[1, patches, width] encoder states. The fbank is computed in fp32 on the CPU and then cast, as the
        authors cast it to fp16 for their GPU run."""
        w = self.encoder.patch_embed_a.proj.weight
        return self.encoder(fbank_window(audio.samples, start).unsqueeze(0).to(w.device, w.dtype))

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return 1, self.encoder.dims.patches, self.encoder.dims.width

    @torch.inference_mode()
    def tokens(self, features: Tensor) -> Tensor:
        w = self.proj[1].weight
        return pool_tokens(features.to(w.device, w.dtype), self.encoder.dims.rows, self.proj)

    def forward(self, fbank: Tensor) -> Tensor:
        """[batch, 1024, 128] normalized fbank (`fbank_window`) -> [batch, 32, hidden]: what fine-tuning trains
        through. The encoder trains, so training caches its input, not its states as answering does."""
        return pool_tokens(self.encoder(fbank), self.encoder.dims.rows, self.proj)

    def trained_modules(self) -> dict[str, nn.Module]:
        """The whole audio half, as the authors trained every `audio` parameter: CAV-MAE (its fixed-looking
        sin-cos positions and unused video norms included) and the projection, by their adapter key prefix."""
        return {ENCODER_PREFIX: self.encoder, PROJ_PREFIX: self.proj}


class LTU(Family):
    """Hears sounds and music, reads no transcript: `alpaca_short` without an input, always."""

    kind = "ltu"
    label = "LTU"
    reads_transcript = False
    adapter_marker = f"{ENCODER_PREFIX}patch_embed_a."
    # The authors' LTU demo: temperature 0.1 and top-p 0.95 as LTU-AS's, transformers' default top-k 50,
    # no repetition penalty, 400 new tokens.
    defaults = {"top_k": 50, "repetition_penalty": 1.0, "max_new_tokens": 400}

    def load(self, profile: Profile, plan: Plan, notes: list[str], progress: Progress,
             base: AudioLM | None = None) -> tuple[AudioLM, object]:
        if profile.adapter is None:
            raise CheckpointError("An LTU profile needs an adapter file (ltu_ori_paper.bin) or a full fine-tune.")
        progress(f"Reading adapter {profile.adapter.name}", 0.05)
        weights = read_ltu(profile.adapter)
        llm, adapter_name, tokenizer = llama_with_adapter(profile.llm, weights, plan, profile.adapter.name, notes,
                                                          progress, base.llm if base is not None else None)
        progress("Building the CAV-MAE audio encoder", 0.85)
        front = LTUFrontEnd(build_encoder(weights, plan.device, plan.feature_dtype),
                            build_projection(weights, plan.device, plan.audio_dtype or plan.llm_dtype))
        trainable = weights.audio_parameters() + (
            lora_parameters(weights) if not weights.full_finetune else sum(p.numel() for p in llm.parameters()))
        return AudioLM(llm, front, adapter_name, trainable), tokenizer

    def prompt(self, tokenizer, question: str, text_input: str) -> tuple[list[int], list[int], str]:
        prompt = alpaca_short(question, None)
        return tokenizer.encode(prompt), tokenizer.encode(ALPACA_HEAD), prompt
