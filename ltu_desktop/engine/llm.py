"""The family-independent LLM half: a stock causal LM, strictly loaded, with the adapter's LoRA (peft) or full
fine-tune weights, in the precision the plan chose (bitsandbytes NF4 / int8, or weight-only int8 on the CPU)."""

from __future__ import annotations

import gc
import logging
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoints import IGNORABLE_BASE_KEYS, AdapterWeights, check_lora, check_llm_folder, misshapen
from .precision import Plan
from .types import CheckpointError

LORA_ALPHA = 16  # the authors' value; not stored in the adapter file


def load_llm(folder: Path, plan: Plan, notes: list[str], require_llama: bool) -> nn.Module:
    """A Hugging Face causal LM, refusing missing or misshapen weights; known extras are reported."""
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    cfg = check_llm_folder(folder)
    if require_llama and cfg.get("model_type") != "llama":
        raise CheckpointError(f"{folder} holds a {cfg.get('model_type')!r} model; LTU and LTU-AS need LLaMA (Vicuna-7B).")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    kwargs = {}
    if plan.quant == "nf4" or (plan.quant == "int8" and plan.device.type == "cuda"):
        kwargs = {"quantization_config": _bnb_config(plan), "device_map": {"": str(plan.device)}}
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            str(folder), dtype=plan.llm_dtype, output_loading_info=True, low_cpu_mem_usage=True,
            attn_implementation="sdpa", **kwargs
        )
    except (OSError, ValueError, RuntimeError) as exc:
        wrong = _misshapen_llm(folder) if "mismatched" in str(exc) else []
        if wrong:
            raise CheckpointError(f"The LLM in {folder} has misshapen tensors (expected from its config.json): "
                                  + "; ".join(wrong[:6])) from exc
        raise CheckpointError(f"The LLM in {folder} could not be loaded: {str(exc).splitlines()[0][:300]}") from exc
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.endswith("rotary_emb.inv_freq"))
    if cfg.get("tie_word_embeddings"):
        missing = [k for k in missing if k != "lm_head.weight"]
    if missing:
        raise CheckpointError(f"The LLM in {folder} lacks {len(missing)} tensor(s): " + ", ".join(missing[:6]))
    mismatched = sorted(info.get("mismatched_keys", ()))
    if mismatched:
        raise CheckpointError(f"The LLM in {folder} has misshapen tensors: {mismatched[:6]}")
    unexpected = sorted(info.get("unexpected_keys", ()))
    unknown = [k for k in unexpected if not IGNORABLE_BASE_KEYS.search(k)]
    if unknown:
        raise CheckpointError(
            f"The LLM in {folder} holds {len(unknown)} tensor(s) a LLaMA model does not have: " + ", ".join(unknown[:6])
        )
    if unexpected:
        notes.append(f"Ignored {len(unexpected)} extra tensor(s) in the base folder (the adapter's copies are used): "
                     + ", ".join(unexpected[:3]) + (" ..." if len(unexpected) > 3 else ""))
    return model.eval() if kwargs else model.to(plan.device).eval()


def _misshapen_llm(folder: Path) -> list[str]:
    """Expected (the model its config.json builds) against found (the weight files' headers), tensor by tensor."""
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in
                AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(folder))).state_dict().items()}
    from safetensors import safe_open

    shapes: dict[str, torch.Tensor] = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            shapes |= {k: torch.empty(st.get_slice(k).get_shape(), device="meta") for k in st.keys()}
    for f in sorted(Path(folder).glob("*.bin")):
        shapes |= torch.load(f, map_location="meta", weights_only=True)
    return misshapen(shapes, want)


def _bnb_config(plan: Plan):
    from transformers import BitsAndBytesConfig

    # Its CPU backend would fetch a faster 4-bit kernel from the Hugging Face hub and warns when it cannot;
    # the built-in kernel it then uses is what was measured here, so that warning only alarms people.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise CheckpointError(f"{plan.quant} needs bitsandbytes: pip install bitsandbytes") from exc
    if plan.quant == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=plan.llm_dtype,
                              bnb_4bit_use_double_quant=False)


class Int8Linear(nn.Module):
    """int8 weights with one scale per output channel; activations stay bf16 (weight-only int8).

    Half of bf16's bytes per decode step. Unlike torch's dynamic int8, which also rounds each
    activation vector to 8 bits with one scale, LLaMA's outlier features pass unrounded: on the demo
    LLM that kept greedy answers 0.48 in agreement with fp32 instead of 0.07, at 85% of its speed.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127
        self.register_buffer("weight", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scales", scales.to(torch.bfloat16))
        bias = linear.bias
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.bfloat16))

    def forward(self, x: Tensor) -> Tensor:
        y = torch._weight_int8pack_mm(x.reshape(-1, x.shape[-1]).to(torch.bfloat16), self.weight, self.scales)
        y = y.reshape(*x.shape[:-1], self.weight.shape[0])
        return y if self.bias is None else y + self.bias


def quantize_int8_cpu(llm: nn.Module) -> nn.Module:
    """Each decoder layer's linears, then the head, to Int8Linear one layer at a time, so the peak stays
    near the bf16 size; norms and embeddings stay bf16."""
    for block in llm.model.layers:
        for parent in list(block.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, nn.Linear):
                    setattr(parent, name, Int8Linear(child))
        gc.collect()  # the replaced layers sit in reference cycles: without this a 7B peak passes 24 GB
    if isinstance(llm.lm_head, nn.Linear):
        llm.lm_head = Int8Linear(llm.lm_head)
    return llm.to(torch.bfloat16)


def attach_llm_weights(llm: nn.Module, adapter: AdapterWeights, plan: Plan, name: str, notes: list[str]) -> nn.Module:
    """LoRA through peft (r from the file, alpha 16 on q_proj/v_proj) and / or a full fine-tune's weights."""
    cfg = llm.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    if adapter.hidden != cfg.hidden_size:
        raise CheckpointError(
            f"Adapter {name} projects to width {adapter.hidden}, but the LLM's hidden size is {cfg.hidden_size}."
        )
    if adapter.full_finetune:
        _load_full_finetune(llm, adapter.llm, name)
        notes.append(f"Full fine-tune: {len(adapter.llm)} LLM tensors taken from {name}.")
    if adapter.lora:
        check_lora(adapter.lora, cfg.num_hidden_layers, cfg.num_attention_heads * head_dim,
                   cfg.num_key_value_heads * head_dim, cfg.hidden_size, name)
        llm = _apply_lora(llm, adapter, merge=plan.merge_lora)
    elif not adapter.full_finetune:
        raise CheckpointError(f"Adapter {name} has no LoRA tensors and no LLM weights: it cannot drive the LLM.")
    return quantize_int8_cpu(llm) if plan.merge_lora else llm


def lora_model(llm: nn.Module, lora: dict[tuple[int, str, str], Tensor], rank: int, dropout: float = 0.0):
    """peft's LoraModel over `llm` (alpha 16 on q_proj/v_proj, as the authors), holding the adapter's A and B.

    Inference uses dropout 0; training builds the same model with the authors' 0.05, so what trains
    is exactly what answers. An empty `lora` leaves peft's own initialisation (B = 0).
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=LORA_ALPHA, target_modules=["q_proj", "v_proj"],
                        lora_dropout=dropout, bias="none")
    model = get_peft_model(llm, config).base_model
    with torch.no_grad():
        for (i, p, ab), part in lora_parts(model.model).items():
            if (i, p, ab) in lora:
                part.weight.copy_(lora[(i, p, ab)].to(part.weight.dtype))
    return model


def lora_parts(llm: nn.Module, name: str = "default") -> dict[tuple[int, str, str], nn.Linear]:
    """(layer, "q" | "v", "A" | "B") -> the peft Linear holding that matrix of adapter `name`."""
    layer_of = re.compile(r"layers\.(\d+)\.self_attn\.([qv])_proj$")
    parts = {}
    for module_name, module in llm.named_modules():
        m = layer_of.search(module_name)
        if m and hasattr(module, "lora_A"):
            parts[(int(m[1]), m[2], "A")] = module.lora_A[name]
            parts[(int(m[1]), m[2], "B")] = module.lora_B[name]
    return parts


def _apply_lora(llm: nn.Module, adapter: AdapterWeights, merge: bool, name: str = "default") -> nn.Module:
    """peft LoRA on q_proj/v_proj; a second `name` goes beside the adapter already in `llm` (not merged)."""
    if name == "default":
        model = lora_model(llm, adapter.lora, adapter.lora_rank)
        return (model.merge_and_unload() if merge else model.model).eval()
    import warnings

    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=adapter.lora_rank, lora_alpha=LORA_ALPHA, target_modules=["q_proj", "v_proj"],
                        lora_dropout=0.0, bias="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft warns that a model with adapters gets another: that is the point
        inject_adapter_in_model(config, llm, adapter_name=name)
    with torch.no_grad():
        for key, part in lora_parts(llm, name).items():
            part.weight.copy_(adapter.lora[key].to(part.weight.dtype))
    return llm.eval()


def lora_parameters(adapter: AdapterWeights) -> int:
    return sum(t.numel() for t in adapter.lora.values())


def base_with_adapter(folder: Path, adapter: AdapterWeights, plan: Plan, name: str, notes: list[str],
                      base: nn.Module | None = None) -> tuple[nn.Module, str | None]:
    """The base LLM with this adapter's LoRA (or full fine-tune) attached, and the LoRA's adapter name.

    Given `base`, an LLM already loaded from identical weights with another LoRA adapter on it, this
    LoRA is attached beside that one instead of loading the base again; a full fine-tune or LoRA that
    is merged into int8 weights cannot share and loads its own base."""
    shareable = (base is not None and adapter.lora and not adapter.full_finetune and not plan.merge_lora
                 and hasattr(base, "peft_config"))
    if shareable:
        _check_adapter_fits(base, adapter, name)
        adapter_name = f"adapter{len(base.peft_config)}"
        _apply_lora(base, adapter, merge=False, name=adapter_name)
        notes.append(f"Shares the base LLM already loaded ({len(base.peft_config)} LoRA adapters on it).")
        return base, adapter_name
    llm = attach_llm_weights(load_llm(folder, plan, notes, require_llama=True), adapter, plan, name, notes)
    return llm, ("default" if hasattr(llm, "peft_config") else None)


def _check_adapter_fits(llm: nn.Module, adapter: AdapterWeights, name: str) -> None:
    cfg = llm.config
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    if adapter.hidden != cfg.hidden_size:
        raise CheckpointError(
            f"Adapter {name} projects to width {adapter.hidden}, but the LLM's hidden size is {cfg.hidden_size}.")
    check_lora(adapter.lora, cfg.num_hidden_layers, cfg.num_attention_heads * head_dim,
               cfg.num_key_value_heads * head_dim, cfg.hidden_size, name)


def _load_full_finetune(llm: nn.Module, weights: dict[str, Tensor], name: str) -> None:
    """The full fine-tune's LLM tensors replace the base ones; every LLM tensor must be in the file."""
    own = llm.state_dict()
    renamed = {k.replace(".base_layer.", "."): v for k, v in weights.items()}
    missing = [k for k in own if k not in renamed and not k.endswith("inv_freq")]
    unknown = [k for k in renamed if k not in own and not IGNORABLE_BASE_KEYS.search(k)]
    wrong = [k for k in own if k in renamed and tuple(renamed[k].shape) != tuple(own[k].shape)]
    if missing or unknown or wrong:
        raise CheckpointError(
            f"{name} is not a full fine-tune of this LLM: "
            + "; ".join(p for p in (
                f"missing {missing[:4]}" if missing else "", f"unknown {unknown[:4]}" if unknown else "",
                f"misshapen {wrong[:4]}" if wrong else "") if p)
        )
    llm.load_state_dict({k: renamed[k] for k in own if k in renamed}, strict=False)


def llama_with_adapter(llm_dir: Path, adapter: AdapterWeights, plan: Plan, name: str, notes: list[str],
                       progress, base: nn.Module | None = None):
    """The LLM half every LLaMA family shares: the base with the adapter's LLM weights, and its tokenizer.

    Returns (llm, LoRA adapter name, tokenizer)."""
    from .tokenizer import SentencePieceTokenizer

    progress(f"Reading the LLM from {Path(llm_dir).name}", 0.15)
    llm, adapter_name = base_with_adapter(llm_dir, adapter, plan, name, notes, base)
    tokenizer = SentencePieceTokenizer(Path(llm_dir) / "tokenizer.model")
    if tokenizer.vocab_size > llm.config.vocab_size:
        raise CheckpointError(
            f"tokenizer.model has {tokenizer.vocab_size} pieces but the LLM only {llm.config.vocab_size}.")
    return llm, adapter_name, tokenizer
