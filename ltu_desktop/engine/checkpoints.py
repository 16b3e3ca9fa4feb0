"""The authors' file layouts, read strictly: a wrong file is refused by name, never half-loaded.

The released adapters are state dicts of the peft-0.3-wrapped model of the authors' transformers
fork, so every key starts with `base_model.model.`; their fork's LLaMA owned the audio modules,
hence `model.audio_encoder.*` (the TLTR) and `model.audio_proj.*` (LayerNorm without affine, so
only index 1, the Linear, has tensors).
"""

from __future__ import annotations

import json
import math
import pickle
import re
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .types import CheckpointError

PEFT_PREFIX = "base_model.model."
TLTR_PREFIX = "model.audio_encoder."
PROJ_PREFIX = "model.audio_proj."
LORA_KEY = re.compile(r"^model\.layers\.(\d+)\.self_attn\.([qv])_proj\.lora_([AB])(?:\.default)?\.weight$")
_BLOCK_TENSORS = (
    "attn.query.weight", "attn.query.bias", "attn.key.weight", "attn.value.weight", "attn.value.bias",
    "attn.out.weight", "attn.out.bias", "attn_ln.weight", "attn_ln.bias",
    "mlp.0.weight", "mlp.0.bias", "mlp.2.weight", "mlp.2.bias", "mlp_ln.weight", "mlp_ln.bias",
)
# Tensors a base folder saved by the authors' fork may hold that stock LLaMA does not have.
IGNORABLE_BASE_KEYS = re.compile(r"^model\.(audio_encoder|audio_proj)\.|\.rotary_emb\.inv_freq$")


def load_pickled(path: Path, what: str) -> dict:
    """torch.load with weights_only=True; anything that is not a tensor dict is refused."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    if path.stat().st_size < 64:
        raise CheckpointError(f"{what} {path.name} is empty or truncated ({path.stat().st_size} bytes).")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{what} {path.name} is not a PyTorch checkpoint (not a torch.save zip archive).")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():  # torch's advice to load it anyway must never reach a person
            raise CheckpointError(f"{what} {path.name} contains code (Python objects), not just tensors. It was "
                                  f"not loaded: running it could do anything to this computer. Use the file as "
                                  f"released.") from None
        raise CheckpointError(f"{what} {path.name} is damaged: {str(exc).splitlines()[0][:200]}") from None
    except Exception as exc:
        raise CheckpointError(f"{what} {path.name} could not be read: {str(exc).splitlines()[0][:200]}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} {path.name} holds a {type(obj).__name__}, not a dict of tensors.")
    return obj


@dataclass
class AdapterWeights:
    """TLTR + projection (+ LoRA, + LLM weights for a full fine-tune), with sizes read from the tensors."""

    tltr: dict[str, torch.Tensor]
    proj: dict[str, torch.Tensor]
    lora: dict[tuple[int, str, str], torch.Tensor]
    llm: dict[str, torch.Tensor]
    width: int
    hidden: int
    lora_rank: int | None

    @property
    def full_finetune(self) -> bool:
        return bool(self.llm)


def read_adapter(path: Path) -> AdapterWeights:
    """Split an adapter / full fine-tune file into its parts and check the audio modules are whole."""
    raw = load_pickled(path, "Adapter")
    sd = {(k[len(PEFT_PREFIX):] if k.startswith(PEFT_PREFIX) else k): v for k, v in raw.items()}
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        what = " (it looks like a Whisper checkpoint)" if "model_state_dict" in bad else ""
        raise CheckpointError(f"{Path(path).name} is not an LTU-AS adapter{what}: it holds entries that are not "
                              f"tensors: {', '.join(bad[:5])}")
    tltr = {k[len(TLTR_PREFIX):]: v for k, v in sd.items() if k.startswith(TLTR_PREFIX)}
    proj = {k[len(PROJ_PREFIX):]: v for k, v in sd.items() if k.startswith(PROJ_PREFIX)}
    lora: dict[tuple[int, str, str], torch.Tensor] = {}
    llm: dict[str, torch.Tensor] = {}
    for k, v in sd.items():
        if k.startswith((TLTR_PREFIX, PROJ_PREFIX)):
            continue
        m = LORA_KEY.match(k)
        if m:
            lora[(int(m[1]), m[2], m[3])] = v
        elif "lora_" not in k:
            llm[k] = v
    required = [f"{blk}.{t}" for blk in ("time_tr", "layer_tr") for t in _BLOCK_TENSORS]
    missing = [TLTR_PREFIX + r for r in required if r not in tltr]
    missing += [PROJ_PREFIX + r for r in ("1.weight", "1.bias") if r not in proj]
    if missing:
        kind = "an LTU-AS adapter" if (tltr or proj) else "an LTU-AS adapter (no audio modules found at all)"
        raise CheckpointError(
            f"{Path(path).name} is not {kind}: missing {len(missing)} tensor(s): "
            + ", ".join(PEFT_PREFIX + m for m in missing[:8]) + (" ..." if len(missing) > 8 else "")
        )
    width = tltr["time_tr.attn.query.weight"].shape[1]
    hidden = proj["1.weight"].shape[0]
    want = {f"{TLTR_PREFIX}{blk}.{t}": s for blk in ("time_tr", "layer_tr") for t, s in _block_shapes(width).items()}
    want |= {f"{PROJ_PREFIX}1.weight": (hidden, width), f"{PROJ_PREFIX}1.bias": (hidden,)}
    found = {TLTR_PREFIX + k: v for k, v in tltr.items()} | {PROJ_PREFIX + k: v for k, v in proj.items()}
    wrong = misshapen(found, want)
    if wrong:
        raise CheckpointError(f"Adapter {Path(path).name} has misshapen tensors (the audio width is {width}, read "
                              f"from time_tr.attn.query.weight): " + "; ".join(wrong[:6]))
    ranks = {v.shape[0] for (_, _, ab), v in lora.items() if ab == "A"}
    if len(ranks) > 1:
        raise CheckpointError(f"Adapter {Path(path).name}: LoRA ranks differ between layers: {sorted(ranks)}")
    return AdapterWeights(tltr, proj, lora, llm, width, hidden, ranks.pop() if ranks else None)


def misshapen(found: dict[str, torch.Tensor], want: dict[str, tuple[int, ...]]) -> list[str]:
    """One "name: expected (..), found (..)" per tensor whose shape differs, in `want`'s order."""
    return [f"{k}: expected {_shape(s)}, found {_shape(found[k].shape)}" for k, s in want.items()
            if k in found and tuple(found[k].shape) != tuple(s)]


def _shape(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _block_shapes(w: int) -> dict[str, tuple[int, ...]]:
    return {
        "attn.query.weight": (w, w), "attn.query.bias": (w,), "attn.key.weight": (w, w),
        "attn.value.weight": (w, w), "attn.value.bias": (w,), "attn.out.weight": (w, w), "attn.out.bias": (w,),
        "attn_ln.weight": (w,), "attn_ln.bias": (w,), "mlp.0.weight": (4 * w, w), "mlp.0.bias": (4 * w,),
        "mlp.2.weight": (w, 4 * w), "mlp.2.bias": (w,), "mlp_ln.weight": (w,), "mlp_ln.bias": (w,),
    }


def check_lora(lora: dict[tuple[int, str, str], torch.Tensor], n_layers: int, q_out: int, v_out: int,
               hidden: int, name: str) -> None:
    """Every layer needs A and B for q_proj and v_proj, shaped for this LLM."""
    missing, wrong = [], []
    for i in range(n_layers):
        for proj, out in (("q", q_out), ("v", v_out)):
            for ab in ("A", "B"):
                key = f"{PEFT_PREFIX}model.layers.{i}.self_attn.{proj}_proj.lora_{ab}.default.weight"
                t = lora.get((i, proj, ab))
                if t is None:
                    missing.append(key)
                    continue
                r = t.shape[0] if ab == "A" else t.shape[1]
                wrong += misshapen({key: t}, {key: (r, hidden) if ab == "A" else (out, r)})
    extra = sorted({i for (i, _, _) in lora if i >= n_layers})
    if missing:
        raise CheckpointError(
            f"Adapter {name} lacks LoRA tensors for this LLM ({len(missing)} missing), e.g. " + ", ".join(missing[:4])
        )
    if wrong or extra:
        detail = "; ".join(wrong[:4]) + (f"; LoRA for layers beyond the LLM's {n_layers}: {extra[:4]}" if extra else "")
        raise CheckpointError(f"Adapter {name} does not match this LLM: {detail.strip('; ')}")


@dataclass
class WhisperCheckpoint:
    dims: dict
    state: dict[str, torch.Tensor]


_DIM_FIELDS = ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
               "n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")


def read_whisper(path: Path, encoder_only: bool) -> WhisperCheckpoint:
    """An openai-whisper checkpoint ({'dims', 'model_state_dict'}), checked tensor by tensor."""
    ck = load_pickled(path, "Whisper checkpoint")
    name = Path(path).name
    if "dims" not in ck or "model_state_dict" not in ck:
        raise CheckpointError(
            f"{name} is not an openai-whisper checkpoint (expected keys 'dims' and 'model_state_dict', "
            f"found {', '.join(list(ck)[:5]) or 'nothing'})."
        )
    dims = dict(ck["dims"])
    absent = [f for f in _DIM_FIELDS if f not in dims]
    if absent:
        raise CheckpointError(f"{name}: 'dims' lacks {', '.join(absent)}.")
    sd: dict[str, torch.Tensor] = ck["model_state_dict"]
    w, n_mels = dims["n_audio_state"], dims["n_mels"]
    want: dict[str, tuple[int, ...]] = {
        "encoder.conv1.weight": (w, n_mels, 3), "encoder.conv1.bias": (w,),
        "encoder.conv2.weight": (w, w, 3), "encoder.conv2.bias": (w,),
        "encoder.ln_post.weight": (w,), "encoder.ln_post.bias": (w,),
    }
    shapes = _block_shapes(w)
    for i in range(dims["n_audio_layer"]):
        for t in _BLOCK_TENSORS:
            want[f"encoder.blocks.{i}.{t}"] = shapes[t]
    if not encoder_only:
        tw, v = dims["n_text_state"], dims["n_vocab"]
        want["decoder.token_embedding.weight"] = (v, tw)
        want["decoder.positional_embedding"] = (dims["n_text_ctx"], tw)
        want["decoder.ln.weight"] = (tw,)
        tshapes = _block_shapes(tw)
        for i in range(dims["n_text_layer"]):
            for t in _BLOCK_TENSORS:
                want[f"decoder.blocks.{i}.{t}"] = tshapes[t]
                if t.startswith("attn"):
                    want[f"decoder.blocks.{i}.cross_{t}"] = tshapes[t]
    missing = [k for k in want if k not in sd]
    if missing:
        raise CheckpointError(
            f"Whisper checkpoint {name} lacks {len(missing)} tensor(s): " + ", ".join(missing[:6])
            + (" ..." if len(missing) > 6 else "")
        )
    wrong = misshapen(sd, want)
    if wrong:
        raise CheckpointError(f"Whisper checkpoint {name} has misshapen tensors: " + "; ".join(wrong[:5]))
    return WhisperCheckpoint(dims, sd)


def check_llm_folder(folder: Path) -> dict:
    """A Hugging Face LLaMA folder: config, tokenizer and weights present. Returns the config."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"Base LLM folder not found: {folder}")
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{folder} is not a Hugging Face model folder: config.json is missing.")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from exc
    weights = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not weights:
        raise CheckpointError(f"{folder} holds no weights (*.safetensors or *.bin).")
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{cfg_path} is not a model configuration (a JSON object).")
    for path in weights:
        shapes = _safetensors_shapes(path) if path.suffix == ".safetensors" else _pickled_shapes(path)
        _check_llm_shapes(path, shapes, cfg)
    return cfg


_SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                      "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "U32": 4, "U64": 8}


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header, checked against the file's length without reading the data:
    an empty, truncated or random file is named, not passed on to a loader that would crash on it."""
    size = path.stat().st_size
    bad = f"LLM weights {path.name} are damaged"
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{bad}: the file is empty or truncated ({size} bytes).")
        n = struct.unpack("<Q", head)[0]
        if n > min(size - 8, 100 << 20):
            raise CheckpointError(f"{bad}: it is not a safetensors file (its header length makes no sense).")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise CheckpointError(f"{bad}: its safetensors header is not readable.") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{bad}: its safetensors header is not readable.")
    shapes, end = {}, 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        try:
            shape, (begin, stop) = tuple(int(d) for d in t["shape"]), t["data_offsets"]
            width = _SAFETENSORS_BYTES[t["dtype"]]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{bad}: the header entry of {name} is malformed.") from None
        if stop - begin != math.prod(shape) * width:
            raise CheckpointError(f"{bad}: {name} claims shape {shape} but holds {stop - begin} bytes.")
        shapes[name], end = shape, max(end, stop)
    if 8 + n + end > size:
        raise CheckpointError(f"{bad}: the file is truncated ({size} bytes; its header needs {8 + n + end}). "
                              f"Download or copy it again.")
    return shapes


def _pickled_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    sd = load_pickled(path, "LLM weights")
    wrong = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if wrong:
        raise CheckpointError(f"LLM weights {path.name} hold entries that are not tensors: "
                              f"{', '.join(map(str, wrong[:5]))}")
    return {k: tuple(v.shape) for k, v in sd.items()}


def _check_llm_shapes(path: Path, shapes: dict[str, tuple[int, ...]], cfg: dict) -> None:
    """The tensors whose shapes the config fixes: embeddings and head, and no layer beyond the config's."""
    vocab, hidden, layers = cfg.get("vocab_size"), cfg.get("hidden_size"), cfg.get("num_hidden_layers")
    wrong = [f"{k}: {shapes[k]} (the config says {(vocab, hidden)})" for k in ("model.embed_tokens.weight",
             "lm_head.weight") if k in shapes and vocab and hidden and shapes[k] != (vocab, hidden)]
    if layers:
        beyond = sorted({int(m[1]) for k in shapes if (m := re.match(r"model\.layers\.(\d+)\.", k))
                         and int(m[1]) >= layers})
        if beyond:
            wrong.append(f"layers {beyond[:4]} beyond the config's {layers}")
    if wrong:
        raise CheckpointError(f"LLM weights {path.name} do not fit {path.parent.name}/config.json: "
                              + "; ".join(wrong[:4]))


def validate_file(path: Path, kind: str) -> None:
    """Structure checks for a file the person adds, without loading a 13 GB LLM: raises CheckpointError."""
    path = Path(path)
    if kind == "llm":
        cfg = check_llm_folder(path)
        if cfg.get("model_type") != "llama":
            raise CheckpointError(f"{path} holds a {cfg.get('model_type')!r} model; LTU and LTU-AS need LLaMA "
                                  "(Vicuna-7B).")
        if not (path / "tokenizer.model").is_file():
            raise CheckpointError(f"{path} has no tokenizer.model (LLaMA's sentencepiece model).")
    elif kind in ("adapter", "full-finetune"):
        from .engine import family_of_adapter
        from .ltu import read_ltu

        weights = read_ltu(path) if family_of_adapter(path) == "ltu" else read_adapter(path)
        if kind == "full-finetune" and not weights.full_finetune:
            raise CheckpointError(f"{path.name} holds no LLM weights: it is an adapter, not a full fine-tune.")
    elif kind == "whisper":
        read_whisper(path, encoder_only=False)
    else:
        raise CheckpointError(f"Unknown kind {kind!r}: use llm, adapter, full-finetune or whisper.")
