"""Device and dtype plans: which precision each part runs in, decided once before loading."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .types import EngineError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Plan:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    llm_dtype: torch.dtype
    feature_dtype: torch.dtype  # the Whisper encoder's compute dtype

    def describe(self) -> str:
        return f"{self.device.type} {self.precision}"


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("CUDA was requested but no CUDA GPU is available to PyTorch; use --device cpu.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise EngineError(f"Unknown device {device!r}: use auto, cpu or cuda.")
    return torch.device(device)


def plan(device: str = "auto", precision: str = "auto") -> Plan:
    """`auto` is what the authors ran: fp16 on CUDA, fp32 on CPU (where fp16 matmuls are slow)."""
    dev = resolve_device(device)
    if precision not in PRECISIONS:
        raise EngineError(f"Unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        precision = "fp16" if dev.type == "cuda" else "fp32"
    if precision == "fp16" and dev.type == "cpu":
        raise EngineError("fp16 runs only on a GPU; on the CPU use bf16 (faster) or fp32 (exact).")
    if precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EngineError("This GPU does not support bf16; use fp16.")
    dtype = DTYPES[precision]
    return Plan(dev, precision, dtype, dtype)
