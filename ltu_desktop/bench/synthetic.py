"""synthetic-7b / synthetic-ltu: LTU-AS or LTU at full size (Vicuna-7B, Whisper large-v1 or CAV-MAE ViT-B, the
released adapters' shapes), random weights.

Nothing is downloaded or written to disk: modules are built on the meta device and allocated once in the
plan's dtype, so a bf16 model needs ~14 GB and never passes through a 28 GB fp32 copy. Timings on it
are what the real checkpoints would cost on the same machine; its answers are noise.

`save_files` writes the same kind of model as the released files (LLaMA folder, adapter .bin, Whisper .pt),
seeded, so that another pipeline (the authors', for `bench --authors`) loads exactly the weights ours does.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch import nn

from ..engine.checkpoints import PEFT_PREFIX, PROJ_PREFIX, TLTR_PREFIX, AdapterWeights
from ..engine.engine import Engine, warm_up
from ..engine.family import AudioLM
from ..engine.llm import attach_llm_weights
from ..engine.ltu import LTU, RELEASED_DIMS, CAVMAEAudio, LTUFrontEnd, LTUWeights
from ..engine.ltu import audio_projection as ltu_projection
from ..engine.ltu_as import LTUAS, TLTR, audio_projection, build_front, explicit_attention
from ..engine.precision import Plan, to_dtype
from ..engine.tokenizer import SentencePieceTokenizer
from ..engine.types import Profile
from ..models.profiles import profile_from_paths
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


FILES_FORMAT = 1
SHARD_BYTES = {"bin": 10 * 10**9, "safetensors": 2 * 10**9}  # .bin: the release's (transformers' 10GB default)


def save_files(folder: Path, layers: int, seed: int = 0, llm: dict | None = None, whisper: dict | None = None,
               fmt: str = "bin", progress=None) -> Profile:
    """Writes synthetic-7b as the released files: `llm/` (config, tokenizer.model, fp16 weights in `.bin` shards of
    up to 10 GB as vicuna_ltuas ships them, whose loading peak differs from safetensors', or in safetensors),
    `adapter.bin` (peft 0.3 key names) and `large-v1.pt` (a whole openai-whisper checkpoint, fp16).

    Every tensor is drawn from its own generator seeded by `seed` and its name, so the files are the same on
    every run; a folder already holding this set is reused. `llm` / `whisper` override the 7B / large-v1
    sizes (tests write tiny ones)."""
    llm = {**VICUNA_7B, **(llm or {}), "num_hidden_layers": layers}
    whisper = {**WHISPER_LARGE_V1, **(whisper or {})}
    folder = Path(folder)
    profile = replace(profile_from_paths(folder / "llm", folder / "adapter.bin", folder / "large-v1.pt", None,
                                         name="synthetic-7b-files"),
                      label=f"synthetic-7b files in {folder} ({layers} layers, random weights, for timing only)")
    card = {"format": FILES_FORMAT, "seed": seed, "llm": llm, "whisper": whisper, "weights": fmt}
    marker = folder / "synthetic-files.json"
    if marker.is_file() and json.loads(marker.read_text()) == card:
        return profile
    report = progress or (lambda _s, _f: None)
    marker.unlink(missing_ok=True)
    report(f"Writing a {layers}-layer 7B LLM (fp16 {fmt}) to {folder / 'llm'}", 0.05)
    _write_llm(folder / "llm", llm, seed, fmt)
    report("Writing the adapter (TLTR, projection, LoRA r=8)", 0.6)
    _write_adapter(folder / "adapter.bin", llm, whisper["n_state"], seed)
    report("Writing the Whisper checkpoint (fp16)", 0.7)
    _write_whisper(folder / "large-v1.pt", whisper, seed)
    marker.write_text(json.dumps(card, indent=1))
    report("Files written", 1.0)
    return profile


def _random(name: str, shape: tuple[int, ...], seed: int, std: float = 0.02) -> torch.Tensor:
    """fp16 N(0, std) for matrices, ones for 1-D weights, zeros for biases; its own stream per tensor name."""
    if len(shape) == 1:
        return (torch.ones if name.endswith("weight") else torch.zeros)(shape, dtype=torch.float16)
    g = torch.Generator().manual_seed(seed * 2**32 + zlib.crc32(name.encode()))
    return (torch.randn(shape, generator=g) * std).half()


def _write_llm(folder: Path, cfg: dict, seed: int, fmt: str) -> None:
    from safetensors.torch import save_file

    from ..models.tiny import _tokenizer

    if folder.is_dir():  # no shards of another format or count left behind
        for old in [*folder.glob("pytorch_model*.bin*"), *folder.glob("model*.safetensors*")]:
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    h, inter, n = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    per_layer = {"self_attn.q_proj.weight": (h, h), "self_attn.k_proj.weight": (kv, h),
                 "self_attn.v_proj.weight": (kv, h), "self_attn.o_proj.weight": (h, h),
                 "mlp.gate_proj.weight": (inter, h), "mlp.up_proj.weight": (inter, h),
                 "mlp.down_proj.weight": (h, inter), "input_layernorm.weight": (h,),
                 "post_attention_layernorm.weight": (h,)}
    shapes = {"model.embed_tokens.weight": (cfg["vocab_size"], h)}
    shapes |= {f"model.layers.{i}.{k}": s for i in range(n) for k, s in per_layer.items()}
    shapes |= {"model.norm.weight": (h,), "lm_head.weight": (cfg["vocab_size"], h)}
    groups: list[list[str]] = [[]]
    size = 0
    for key, shape in shapes.items():
        nbytes = 2 * math.prod(shape)
        if groups[-1] and size + nbytes > SHARD_BYTES[fmt]:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += nbytes
    stem, ext = ("pytorch_model", "bin") if fmt == "bin" else ("model", "safetensors")
    index: dict[str, str] = {}
    for part, keys in enumerate(groups, 1):
        name = f"{stem}.{ext}" if len(groups) == 1 else f"{stem}-{part:05d}-of-{len(groups):05d}.{ext}"
        shard = {k: _random(k, shapes[k], seed) for k in keys}
        if fmt == "bin":
            torch.save(shard, folder / name)
        else:
            save_file(shard, str(folder / name), metadata={"format": "pt"})
        index |= dict.fromkeys(keys, name)
    if len(groups) > 1:
        (folder / f"{stem}.{ext}.index.json").write_text(json.dumps({"metadata": {}, "weight_map": index}, indent=1))
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "initializer_range": 0.02, "use_cache": True, "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2,
              "tie_word_embeddings": False, "torch_dtype": "float16", **cfg}
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    # As many pieces as the LLM has ids, so that any sampled id decodes in both pipelines: the synthetic
    # profile's 400 pieces and placeholders that never match text.
    _tokenizer(folder, cfg["vocab_size"], max(0, cfg["vocab_size"] - 400))


def _write_adapter(path: Path, llm: dict, width: int, seed: int) -> None:
    torch.manual_seed(seed)
    adapter = _adapter(llm["hidden_size"], llm["num_hidden_layers"], width)
    sd = {f"{PEFT_PREFIX}{TLTR_PREFIX}{k}": v for k, v in adapter.tltr.items()}
    sd |= {f"{PEFT_PREFIX}{PROJ_PREFIX}{k}": v for k, v in adapter.proj.items()}
    sd |= {f"{PEFT_PREFIX}model.layers.{i}.self_attn.{p}_proj.lora_{ab}.default.weight": v
           for (i, p, ab), v in adapter.lora.items()}
    torch.save(sd, path)


def _write_whisper(path: Path, audio: dict, seed: int) -> None:
    """Encoder and decoder, as the released large-v1.pt (the authors' pipeline loads the whole model)."""
    from whisper.model import AudioEncoder, ModelDimensions, TextDecoder, sinusoids

    dims = ModelDimensions(n_mels=audio["n_mels"], n_audio_ctx=audio["n_ctx"], n_audio_state=audio["n_state"],
                           n_audio_head=audio["n_head"], n_audio_layer=audio["n_layer"], n_vocab=51865,
                           n_text_ctx=448, n_text_state=audio["n_state"], n_text_head=audio["n_head"],
                           n_text_layer=audio["n_layer"])
    with torch.device("meta"):
        halves = {"encoder": AudioEncoder(dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head,
                                          dims.n_audio_layer),
                  "decoder": TextDecoder(dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head,
                                         dims.n_text_layer)}
        shapes = {f"{h}.{k}": tuple(v.shape) for h, m in halves.items() for k, v in m.state_dict().items()}
    state = {k: _random(k, s, seed) for k, s in shapes.items()}
    state["encoder.positional_embedding"] = sinusoids(dims.n_audio_ctx, dims.n_audio_state).half()
    torch.save({"dims": asdict(dims), "model_state_dict": state}, path)
