"""The trainable model: the engine's own LLM loader and front end, with peft LoRA (dropout on) and the audio
modules trainable (LTU-AS: TLTR + projection; LTU: the CAV-MAE encoder + projection), the LLM and LTU-AS's
feature Whisper frozen, as in the authors' recipe."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..audio.io import Audio
from ..engine.checkpoints import read_adapter
from ..engine.llm import lora_model, lora_parts, load_llm
from ..engine.ltu import FRAMES, N_MELS, LTUFrontEnd, build_encoder, build_projection, fbank_window, read_ltu
from ..engine.precision import Plan
from ..engine.tokenizer import SentencePieceTokenizer
from ..engine.types import CheckpointError, EngineError, Profile
from .data import IGNORE, file_key

TRAINABLE_KINDS = ("ltu-as", "ltu")


class Trainee(nn.Module):
    """Audio tokens first, then the prompt and answer, right-padded: the positions the engine uses when it answers."""

    def __init__(self, lora: nn.Module, front: nn.Module):
        super().__init__()
        self.lora = lora  # peft LoraModel; .model is the causal LM with LoRA layers in it
        self.front = front

    @property
    def llm(self) -> nn.Module:
        return self.lora.model

    def forward(self, features: Tensor, ids: Tensor, labels: Tensor, mask: Tensor) -> Tensor:
        """Summed cross-entropy over the answer tokens (the caller divides by the batch's answer-token count)."""
        audio = self.front(features)
        embed = self.llm.get_input_embeddings()
        text = embed(ids)
        n_audio = audio.shape[1]
        x = torch.cat([audio.to(text.dtype), text], dim=1)
        m = torch.cat([mask.new_ones(mask.shape[0], n_audio), mask], dim=1)
        logits = self.llm(inputs_embeds=x, attention_mask=m, use_cache=False).logits[:, n_audio:-1]
        return F.cross_entropy(logits.float().flatten(0, 1), labels[:, 1:].flatten(), ignore_index=IGNORE,
                               reduction="sum")

    def trainable(self) -> dict[str, int]:
        lora = sum(p.numel() for n, p in self.lora.named_parameters() if p.requires_grad and "lora_" in n)
        audio = sum(p.numel() for p in self.front.parameters() if p.requires_grad)
        return {"lora": lora, "audio": audio, "total": lora + audio,
                "all": sum(p.numel() for p in self.parameters())}


def build(profile: Profile, plan: Plan, lora_rank: int | None, dropout: float, notes: list[str]):
    """(Trainee, tokenizer, family) starting from the profile's adapter."""
    from ..engine.engine import FAMILIES

    if profile.kind not in TRAINABLE_KINDS:
        raise EngineError(f"Fine-tuning supports {', '.join(TRAINABLE_KINDS)} models, not {profile.kind!r}.")
    if profile.adapter is None:
        raise CheckpointError(f"Fine-tuning {FAMILIES[profile.kind].label} needs an adapter file to start from.")
    if profile.kind == "ltu-as" and profile.feature_whisper is None:
        raise CheckpointError("Fine-tuning LTU-AS needs a feature Whisper checkpoint.")
    adapter = read_ltu(profile.adapter) if profile.kind == "ltu" else read_adapter(profile.adapter)
    llm = load_llm(profile.llm, plan, notes, require_llama=True)
    if adapter.full_finetune:
        raise EngineError(f"{profile.adapter.name} is a full fine-tune; fine-tune from a LoRA adapter instead.")
    rank = lora_rank or adapter.lora_rank or 8
    if adapter.lora and rank != adapter.lora_rank:
        notes.append(f"LoRA rank {rank} differs from the adapter's {adapter.lora_rank}: LoRA starts afresh.")
    if plan.quant is not None:
        from peft import prepare_model_for_kbit_training

        llm = prepare_model_for_kbit_training(llm, use_gradient_checkpointing=True)
    lora = lora_model(llm, adapter.lora if rank == adapter.lora_rank else {}, rank, dropout)
    if profile.kind == "ltu":
        front = LTUFrontEnd(build_encoder(adapter, plan.device, torch.float32),
                            build_projection(adapter, plan.device, torch.float32))
    else:
        from ..engine.ltu_as import build_front

        front = build_front(adapter, None, plan)
    tokenizer = SentencePieceTokenizer(profile.llm / "tokenizer.model")
    return trainable(lora, front), tokenizer, FAMILIES[profile.kind]


def trainable(lora: nn.Module, front: nn.Module) -> Trainee:
    """LoRA A/B and the front end's trained modules learn (in fp32); everything else is frozen."""
    for p in lora.parameters():
        p.requires_grad_(False)
    for part in lora_parts(lora.model).values():
        part.weight.data = part.weight.data.float()
        part.weight.requires_grad_(True)
    front.float()
    for p in front.parameters():
        p.requires_grad_(False)
    for module in front.trained_modules().values():
        for p in module.parameters():
            p.requires_grad_(True)
    return Trainee(lora, front).train()


def feature_key(profile: Profile) -> str:
    """Names what the cached training inputs depend on, so no family or model reads another's."""
    if profile.kind == "ltu":
        return f"ltu-fbank-{FRAMES}x{N_MELS}"
    return f"ltu-as-{file_key(profile.feature_whisper)}"


def feature_model(profile: Profile, plan: Plan) -> Callable[[Audio, float], Tensor]:
    """What computes the cached training input of a window: LTU-AS's frozen feature Whisper alone (no LLM);
    for LTU the fbank, as its whole encoder trains."""
    if profile.kind == "ltu":
        return lambda audio, start: fbank_window(audio.samples, start)
    from ..engine.ltu_as import encoder_states, load_encoder, window_mel

    encoder = load_encoder(profile.feature_whisper, plan.device, plan.feature_dtype)
    return lambda audio, start: encoder_states(encoder, window_mel(audio.samples, start,
                                                                   encoder.conv1.weight.shape[1]))


def adapter_state(trainee: Trainee) -> dict[str, Tensor]:
    """The trained tensors under the released adapter keys (`base_model.model.` + the authors' names), fp32."""
    from ..engine.checkpoints import PEFT_PREFIX

    state: dict[str, Tensor] = {}
    for (i, p, ab), part in sorted(lora_parts(trainee.llm).items()):
        state[f"{PEFT_PREFIX}model.layers.{i}.self_attn.{p}_proj.lora_{ab}.default.weight"] = part.weight
    for prefix, module in trainee.front.trained_modules().items():
        for k, v in module.state_dict().items():
            state[f"{PEFT_PREFIX}{prefix}{k}"] = v
    return {k: v.detach().float().cpu().clone() for k, v in state.items()}


def load_adapter_state(trainee: Trainee, state: dict[str, Tensor]) -> None:
    """Put a saved checkpoint's tensors back (resume); every trained tensor must be there."""
    own = adapter_state(trainee)
    missing = [k for k in own if k not in state]
    if missing:
        raise CheckpointError(f"The checkpoint lacks {len(missing)} trained tensor(s), e.g. {missing[:3]}")
    from ..engine.checkpoints import PEFT_PREFIX

    with torch.no_grad():
        for (i, p, ab), part in lora_parts(trainee.llm).items():
            part.weight.copy_(state[f"{PEFT_PREFIX}model.layers.{i}.self_attn.{p}_proj.lora_{ab}.default.weight"])
        for prefix, module in trainee.front.trained_modules().items():
            n = len(PEFT_PREFIX + prefix)
            module.load_state_dict({k[n:]: v for k, v in state.items() if k.startswith(PEFT_PREFIX + prefix)})
