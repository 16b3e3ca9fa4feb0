"""synthetic-7b / synthetic-ltu: LTU-AS or LTU at full size (Vicuna-7B, Whisper large-v1 or CAV-MAE ViT-B, the
released adapters' shapes), random weights.

Nothing is downloaded or written to disk: modules are built on the meta device and allocated once in the
plan's dtype, so a bf16 model needs ~14 GB and never passes through a 28 GB fp32 copy. Timings on it
are what the real checkpoints would cost on the same machine; its answers are noise.
"""

from __future__ import annotations

import torch
from torch import nn

from ..engine.checkpoints import AdapterWeights
from ..engine.engine import Engine, warm_up
from ..engine.family import AudioLM
from ..engine.llm import attach_llm_weights
from ..engine.ltu import LTU, RELEASED_DIMS, CAVMAEAudio, LTUFrontEnd, LTUWeights
from ..engine.ltu import audio_projection as ltu_projection
from ..engine.ltu_as import LTUAS, TLTR, audio_projection, build_front, explicit_attention
from ..engine.precision import Plan, to_dtype
from ..engine.tokenizer import SentencePieceTokenizer
from ..engine.types import Profile
from ..paths import cache_dir

VICUNA_7B = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                 num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=2048, rms_norm_eps=1e-6)
WHISPER_LARGE_V1 = dict(n_mels=80, n_ctx=1500, n_state=1280, n_head=20, n_layer=32)
LORA_RANK = 8


def _fill(module: nn.Module, std: float = 0.02) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim > 1:
                p.normal_(0.0, std)
            else:
                p.fill_(1.0 if name.endswith("weight") else 0.0)


def _llm(plan: Plan, layers: int) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    cfg = LlamaConfig(**{**VICUNA_7B, "num_hidden_layers": layers}, tie_word_embeddings=False)
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg).to(plan.llm_dtype)
    model.to_empty(device=plan.device)
    _fill(model)
    model.model.rotary_emb = LlamaRotaryEmbedding(config=cfg).to(plan.device)
    return model.eval()


def _encoder(plan: Plan):
    from whisper.model import AudioEncoder, sinusoids

    d = WHISPER_LARGE_V1
    with torch.device("meta"):
        enc = AudioEncoder(d["n_mels"], d["n_ctx"], d["n_state"], d["n_head"], d["n_layer"])
    enc = enc.to(plan.feature_dtype).to_empty(device=plan.device)
    _fill(enc)
    enc = to_dtype(explicit_attention(enc), plan.feature_dtype)
    enc.positional_embedding = sinusoids(d["n_ctx"], d["n_state"]).to(plan.device)
    return enc.eval()


def _adapter(hidden: int, layers: int, width: int) -> AdapterWeights:
    tltr, proj = TLTR(width), audio_projection(width, hidden)
    return AdapterWeights(tltr.state_dict(), proj.state_dict(), _lora(hidden, layers), {}, width, hidden, LORA_RANK)


def _lora(hidden: int, layers: int) -> dict:
    return {(i, p, ab): torch.randn(*((LORA_RANK, hidden) if ab == "A" else (hidden, LORA_RANK))) * 0.01
            for i in range(layers) for p in ("q", "v") for ab in ("A", "B")}


def _ltu_front(plan: Plan, hidden: int) -> LTUFrontEnd:
    """CAV-MAE's audio branch (ViT-B, 11 + 1 blocks) and the projection, allocated in the plan's dtypes."""
    with torch.device("meta"):
        encoder, proj = CAVMAEAudio(RELEASED_DIMS), ltu_projection(RELEASED_DIMS.width, hidden)
    encoder = encoder.to(plan.feature_dtype).to_empty(device=plan.device)
    proj = proj.to(plan.audio_dtype or plan.llm_dtype).to_empty(device=plan.device)
    _fill(encoder)
    _fill(proj)
    return LTUFrontEnd(encoder.eval(), proj.eval())


def build_ltu_engine(plan: Plan, layers: int = VICUNA_7B["num_hidden_layers"], progress=None) -> Engine:
    """synthetic-ltu: LTU at full size (`ltu_ori_paper.bin`'s shapes on Vicuna-7B), random weights."""
    folder = _tokenizer_folder()
    report = progress or (lambda _s, _f: None)
    report(f"Allocating a {layers}-layer 7B LLM in {plan.precision} with random weights", 0.1)
    llm = _llm(plan, layers)
    notes: list[str] = ["synthetic-ltu: random weights at full size; timings are real, answers are noise"]
    report("Attaching LoRA (r=8)", 0.6)
    hidden = VICUNA_7B["hidden_size"]
    weights = LTUWeights({}, {}, _lora(hidden, layers), {}, RELEASED_DIMS, hidden, LORA_RANK)
    llm = attach_llm_weights(llm, weights, plan, "synthetic adapter", notes)
    report("Allocating the CAV-MAE audio encoder", 0.85)
    front = _ltu_front(plan, hidden)
    trainable = sum(t.numel() for t in weights.lora.values()) + sum(p.numel() for p in front.parameters())
    lm = AudioLM(llm, front, "default" if hasattr(llm, "peft_config") else None, trainable)
    profile = Profile("synthetic-ltu", folder, None, None, None, kind="ltu",
                      label="synthetic-ltu (full-size LTU, random weights, for timing only)")
    report("Ready", 1.0)
    return Engine(profile, plan, LTU(), lm, SentencePieceTokenizer(folder / "tokenizer.model"), None, notes)


def _tokenizer_folder():
    from ..models.tiny import _tokenizer

    folder = cache_dir() / "synthetic-7b"
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "tokenizer.model").exists():
        _tokenizer(folder, 400)
    return folder


def build_engine(plan: Plan, layers: int = VICUNA_7B["num_hidden_layers"], progress=None) -> Engine:
    """An Engine over full-size random modules; `layers` < 32 makes a shallower model for quick runs."""
    report = progress or (lambda _s, _f: None)
    folder = _tokenizer_folder()
    report(f"Allocating a {layers}-layer 7B LLM in {plan.precision} with random weights", 0.1)
    llm = _llm(plan, layers)
    notes: list[str] = ["synthetic-7b: random weights at full size; timings are real, answers are noise"]
    report("Attaching TLTR, projection and LoRA (r=8)", 0.6)
    adapter = _adapter(VICUNA_7B["hidden_size"], layers, WHISPER_LARGE_V1["n_state"])
    llm = attach_llm_weights(llm, adapter, plan, "synthetic adapter", notes)
    report("Allocating the Whisper large-v1 encoder", 0.85)
    lm = AudioLM(llm, build_front(adapter, _encoder(plan), plan))
    profile = Profile("synthetic-7b", folder, None, None, None, kind="ltu-as",
                      label="synthetic-7b (full-size LTU-AS, random weights, for timing only)")
    report("Warming up", 0.95)
    warm_up(lm, None)
    report("Ready", 1.0)
    return Engine(profile, plan, LTUAS(), lm, SentencePieceTokenizer(folder / "tokenizer.model"), None, notes)
