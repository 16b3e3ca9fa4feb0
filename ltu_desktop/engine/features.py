"""Whisper encoder states of one 10 s window -> [n_layer, 25, width], exactly as LTU-AS was trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import whisper
from torch import Tensor
from whisper.model import AudioEncoder

from .checkpoints import read_whisper
from .tltr import to_dtype
from .types import CheckpointError

WINDOW_SECONDS = 10.0
WINDOW_FRAMES = 1000  # mel frames in 10 s (hop 10 ms)
POOL = 20  # encoder positions averaged into one audio token
FRAMES_PER_SECOND = 100


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
    enc = to_dtype(enc, dtype)
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
