"""Tiny LTU-AS and LTU checkpoints: the real architectures and the released file formats, random weights.

Tests and `ltu-desktop bench --profile tiny` build them in seconds, so every code path that loads
the 16 GB release also runs here without a download.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import torch

from ..engine.checkpoints import PEFT_PREFIX
from ..engine.ltu import CAVMAEAudio, EncoderDims
from ..engine.ltu import audio_projection as ltu_projection
from ..engine.ltu_as import TLTR, audio_projection
from ..engine.types import Profile

_CORPUS = """### Instruction: What can be inferred from the spoken text and sounds? Why?
### Input: the meeting is on monday at ten in the blue room with seven people
### Response: A man is speaking about a meeting; a dog barks and music plays in the background.
What is the speaker's emotion? The speaker sounds calm, happy, sad, angry or excited.
Describe the sound. Birds chirp, a car passes, rain falls, a bell rings twice.
How many people are talking? Two people are talking in a quiet office near a window."""


def _tokenizer(folder: Path, vocab_size: int, placeholders: int = 0) -> None:
    """A small BPE model; `placeholders` unused pieces (`<unusedN>`, never in text) pad it to a larger vocabulary."""
    import sentencepiece as spm

    corpus = folder / "corpus.txt"
    lines = [ln for ln in _CORPUS.splitlines()] * 20
    corpus.write_text("\n".join(lines))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "tokenizer"), vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2,
        user_defined_symbols=[f"<unused{i}>" for i in range(placeholders)],
    )
    corpus.unlink()
    (folder / "tokenizer.vocab").unlink()


def make_llm(folder: Path, *, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2,
             vocab_size: int = 400, fmt: str = "safetensors", extra_audio_tensors: bool = True,
             seed: int = 0) -> Path:
    """A LLaMA folder as the authors' fork saved it: config, tokenizer.model, weights (+ its audio copies)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    _tokenizer(folder, vocab_size)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
                      max_position_embeddings=1024, initializer_range=0.3, pad_token_id=None,
                      bos_token_id=0, eos_token_id=1, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    if extra_audio_tensors:
        state["model.audio_proj.1.weight"] = torch.zeros(hidden, 16)
        state["model.audio_encoder.time_tr.attn.query.weight"] = torch.zeros(16, 16)
    cfg.save_pretrained(folder)
    if fmt == "safetensors":
        from safetensors.torch import save_file

        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return folder


def make_whisper(path: Path, *, width: int = 64, layers: int = 3, heads: int = 4, mute_decoder: bool = True,
                 seed: int = 1) -> Path:
    """An openai-whisper checkpoint file (fp16 tensors, like large-v1.pt) with small dims.

    With `mute_decoder` the decoder always prefers end-of-text, so transcription is fast and empty.
    """
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    torch.manual_seed(seed)
    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=width, n_audio_head=heads,
                           n_audio_layer=layers, n_vocab=51864, n_text_ctx=448, n_text_state=width,
                           n_text_head=heads, n_text_layer=1)
    model = Whisper(dims)
    with torch.no_grad():
        for p in model.parameters():
            if not torch.isfinite(p).all():
                p.normal_(0, 0.02)
        model.decoder.positional_embedding.normal_(0, 0.02)
        if mute_decoder:
            eot = get_tokenizer(multilingual=False).eot
            model.decoder.ln.weight.zero_()
            model.decoder.ln.bias.fill_(1.0)
            model.decoder.token_embedding.weight[eot] = 5.0
    state = {k: v.half() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": asdict(dims), "model_state_dict": state}, path)
    return path


def make_adapter(path: Path, *, width: int = 64, hidden: int = 64, layers: int = 2, heads: int = 4,
                 kv_heads: int = 2, rank: int = 4, seed: int = 2, lora_key_style: str = "default") -> Path:
    """An adapter .bin with the authors' key names (peft 0.3 wrapped model, fp32)."""
    torch.manual_seed(seed)
    tltr, proj = TLTR(width), audio_projection(width, hidden)
    with torch.no_grad():
        for p in list(tltr.parameters()) + list(proj.parameters()):
            p.add_(torch.randn_like(p) * 0.05)
    sd = {f"{PEFT_PREFIX}model.audio_encoder.{k}": v for k, v in tltr.state_dict().items()}
    sd |= {f"{PEFT_PREFIX}model.audio_proj.{k}": v for k, v in proj.state_dict().items()}
    head_dim = hidden // heads
    infix = ".default" if lora_key_style == "default" else ""
    for i in range(layers):
        for p, out in (("q", heads * head_dim), ("v", kv_heads * head_dim)):
            base = f"{PEFT_PREFIX}model.layers.{i}.self_attn.{p}_proj"
            sd[f"{base}.lora_A{infix}.weight"] = torch.randn(rank, hidden) * 0.3
            sd[f"{base}.lora_B{infix}.weight"] = torch.randn(out, rank) * 0.3
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return path


def make_tiny_profile(folder: Path, *, fmt: str = "safetensors") -> Profile:
    """All four files of an LTU-AS profile, tiny; built once per folder."""
    folder = Path(folder)
    marker = folder / "tiny-profile.json"
    llm, adapter = folder / "llm", folder / "adapter.bin"
    whisper_feat, whisper_asr = folder / "whisper-feat.pt", folder / "whisper-asr.pt"
    if not marker.exists():
        make_llm(llm, fmt=fmt)
        make_adapter(adapter)
        make_whisper(whisper_feat, mute_decoder=False)
        make_whisper(whisper_asr, mute_decoder=True, seed=3)
        marker.write_text(json.dumps({"fmt": fmt}))
    return Profile("tiny", llm, whisper_asr, whisper_feat, adapter, kind="ltu-as",
                   label="Tiny random LTU-AS (for tests and benchmarks; its answers are noise)")

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
    encoder, proj = CAVMAEAudio(dims), ltu_projection(dims.width, hidden)
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
