"""Device and dtype plans: which precision each part runs in, decided once before loading."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .types import EngineError

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8", "nf4")
ENCODER_PRECISIONS = ("auto", "fp32", "bf16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
QUANTIZED = ("int8", "nf4")


@dataclass(frozen=True)
class Plan:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    llm_dtype: torch.dtype  # the dtype the LLM is read in
    feature_dtype: torch.dtype  # the Whisper encoder's compute dtype
    quant: str | None = None  # int8 | nf4: how the LLM's linear weights are stored
    audio_dtype: torch.dtype | None = None  # TLTR + projection; defaults to llm_dtype

    @property
    def merge_lora(self) -> bool:
        """CPU int8 replaces every Linear with Int8Linear, so LoRA is folded into the weights first."""
        return self.quant == "int8" and self.device.type == "cpu"

    def describe(self) -> str:
        encoder = "" if self.feature_dtype == (self.audio_dtype or self.llm_dtype) else f", encoder {self.encoder}"
        return f"{self.device.type} {self.precision}{encoder}"

    @property
    def encoder(self) -> str:
        return next(name for name, dtype in DTYPES.items() if dtype == self.feature_dtype)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("CUDA was requested but no CUDA GPU is available to PyTorch; choose the CPU as the device.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise EngineError(f"Unknown device {device!r}: use auto, cpu or cuda.")
    return torch.device(device)


def devices() -> tuple[str, ...]:
    """The device choices this machine has: CUDA only where PyTorch sees a GPU."""
    return ("auto", "cpu", "cuda") if torch.cuda.is_available() else ("auto", "cpu")


def offered(device: str) -> tuple[str, ...]:
    """Every precision `plan` accepts on this device ("auto" first); bitsandbytes' ones only when it is installed."""
    from importlib.util import find_spec

    dev = resolve_device(device)
    bnb = find_spec("bitsandbytes") is not None
    if dev.type == "cuda":
        names = ["fp16", *(["bf16"] if torch.cuda.is_bf16_supported() else []), *(["int8", "nf4"] if bnb else [])]
    else:
        names = ["fp32", "bf16", "int8", *(["nf4"] if bnb else [])]
    return ("auto", *names)


def plan(device: str = "auto", precision: str = "auto", encoder: str = "auto") -> Plan:
    """`auto` is what the authors ran: fp16 on CUDA, fp32 on CPU (where fp16 matmuls are slow).

    Quantized plans: on CUDA bitsandbytes int8 / NF4 with fp16 compute. On the CPU, int8 is torch's
    weight-only int8 with bf16 activations (model.Int8Linear; on the demo LLM 3.3x the speed of
    bitsandbytes' CPU int8 at about its agreement with fp32), and NF4 is bitsandbytes' CPU backend
    with bf16 compute. CPU int8 reads the LLM in bf16 and quantizes layer by layer, so a 7B model
    never needs its 28 GB fp32 copy in memory.

    `encoder` sets the audio encoder's compute dtype on the CPU: `auto` runs it in bf16 under the
    reduced precisions where the CPU has bf16 dot products (AVX-512 BF16 or AMX: Whisper large's encoder
    3-4x faster than fp32; its answers' forced agreement with the fp32 encoder is reported by `bench
    --agreement int8/fp32`), and in fp32 everywhere else: without them torch's bf16 GEMMs and
    convolutions are 8-50x slower than fp32's (10 s of features: 58 s against 5.7 s on an AVX2 EPYC).
    """
    dev = resolve_device(device)
    if precision not in PRECISIONS:
        raise EngineError(f"Unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        precision = "fp16" if dev.type == "cuda" else "fp32"
    if precision == "fp16" and dev.type == "cpu":
        raise EngineError("fp16 runs only on a GPU; on the CPU use bf16 (faster) or fp32 (exact).")
    if precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise EngineError("This GPU does not support bf16; use fp16.")
    if encoder not in ENCODER_PRECISIONS:
        raise EngineError(f"Unknown encoder precision {encoder!r}: choose one of {', '.join(ENCODER_PRECISIONS)}.")
    if dev.type == "cuda":
        if encoder != "auto":
            raise EngineError("The encoder precision is a CPU setting; on a GPU the encoder follows the precision.")
        if precision in QUANTIZED:
            return Plan(dev, precision, torch.float16, torch.float16, precision)
        return Plan(dev, precision, DTYPES[precision], DTYPES[precision])
    fast_bf16 = precision != "fp32" and native_bf16()
    features = DTYPES[encoder] if encoder != "auto" else torch.bfloat16 if fast_bf16 else torch.float32
    if precision == "int8":
        return Plan(dev, precision, torch.bfloat16, features, precision, torch.float32)
    if precision == "nf4":
        return Plan(dev, precision, torch.bfloat16, features, precision)
    return Plan(dev, precision, DTYPES[precision], features, audio_dtype=DTYPES[precision])


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX tiles)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


BYTES_PER_WEIGHT = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0 + 4 / 64, "nf4": 0.5 + 4 / 64}
_RUNTIME_MB = 600.0  # torch, transformers and whisper once imported (measured RSS), or a CUDA context
_WHISPER_STORED_BYTES = 2  # released Whisper checkpoints hold fp16 tensors


@dataclass(frozen=True)
class MemoryEstimate:
    """Peak memory of a profile under a plan, in MiB, by part; shown before loading and next to the measured peak."""

    parts: dict[str, float]
    available_mb: float | None

    @property
    def total_mb(self) -> float:
        return sum(self.parts.values())

    @property
    def fits(self) -> bool:
        return self.available_mb is None or self.total_mb <= self.available_mb

    def describe(self) -> str:
        detail = ", ".join(f"{k} {v / 1024:.1f}" for k, v in self.parts.items())
        room = f" of {self.available_mb / 1024:.1f} GiB available" if self.available_mb else ""
        return f"about {self.total_mb / 1024:.1f} GiB{room} ({detail} GiB)"


def llm_parameters(cfg: dict) -> tuple[int, int]:
    """(linear-layer weights, embedding + norm weights) from a Hugging Face LLaMA config."""
    h, inter, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    head_dim = cfg.get("head_dim") or h // heads
    attn = h * heads * head_dim * 2 + h * kv * head_dim * 2
    linear = layers * (attn + 3 * h * inter)
    embed = cfg["vocab_size"] * h
    head = 0 if cfg.get("tie_word_embeddings") else cfg["vocab_size"] * h
    return linear + head, embed + layers * 2 * h + h


def available_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free / 2**20
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def estimate(plan: Plan, llm_config: dict, whisper_files: list, adapter_bytes: int, max_tokens: int = 1024,
             available: float | None = None) -> MemoryEstimate:
    """Weights at the plan's bytes per weight, the KV cache of the longest answer, Whisper, and a work margin."""
    linear, other = llm_parameters(llm_config)
    per_weight = BYTES_PER_WEIGHT[plan.precision]
    compute = (plan.audio_dtype or plan.llm_dtype).itemsize
    cfg = llm_config
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    kv = 2 * cfg["num_hidden_layers"] * cfg.get("num_key_value_heads", cfg["num_attention_heads"]) * head_dim
    # A CTranslate2 transcript Whisper is a folder whose model.bin holds fp16 weights, like a .pt
    stored = [(f / "model.bin" if f.is_dir() else f) for f in whisper_files if f and f.exists()]
    whisper_params = sum(f.stat().st_size for f in stored if f.exists()) / _WHISPER_STORED_BYTES
    parts = {
        "LLM weights": (linear * per_weight + other * compute) / 2**20,
        "adapter": adapter_bytes / 4 * compute / 2**20,
        "KV cache": kv * max_tokens * compute / 2**20,
        "Whisper": whisper_params * plan.feature_dtype.itemsize / 2**20,
        "work": 300.0 + cfg["vocab_size"] * 4 * 8 / 2**20,
        "runtime": _RUNTIME_MB,
    }
    if plan.merge_lora:
        # CPU int8 reads the LLM in bf16 and quantizes it layer by layer: that bf16 copy is the peak.
        parts["bf16 copy while quantizing"] = linear * (2 - per_weight) / 2**20
    return MemoryEstimate({k: round(v, 1) for k, v in parts.items()},
                          available if available is not None else available_mb(plan.device))


def fitting_precisions(device: torch.device) -> tuple[str, ...]:
    return ("fp16", "int8", "nf4") if device.type == "cuda" else ("fp32", "bf16", "int8", "nf4")


def to_dtype(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """Cast everything but the LayerNorms, which Whisper computes in fp32 and which keep their fp32 values
    (not fp32 copies of fp16 roundings): the authors cast them back before loading the fp32 adapter."""
    norms = [(m, {k: v.float().clone() for k, v in m.state_dict().items()})
             for m in module.modules() if isinstance(m, nn.LayerNorm)]
    module.to(dtype)
    for norm, values in norms:
        norm.float().load_state_dict(values)
    return module
