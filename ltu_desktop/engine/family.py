"""A model family's audio half, and the contract the engine holds each family to.

The engine owns everything on the LLM side (LoRA, quantization, decode loop, prefix cache, stats);
a family says what it hears of a clip, how that becomes audio tokens, and how its prompt reads.
Adding a family is one file with a `Family` subclass, listed in `engine.FAMILIES`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from ..audio.io import Audio
from .precision import Plan
from .types import GenerationSettings, Profile

Progress = Callable[[str, float], None]


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class FrontEnd(nn.Module):
    """Clip -> features (the slow, cacheable part) -> audio tokens in the LLM's input space."""

    window_seconds: ClassVar[float] = 10.0

    def features(self, audio: Audio, start: float) -> Tensor:
        raise NotImplementedError

    @property
    def feature_shape(self) -> tuple[int, ...]:
        """The shape `features` returns: precomputed features (the authors' feature files) must have it."""
        raise NotImplementedError

    def tokens(self, features: Tensor) -> Tensor:
        """[1, n_audio_tokens, hidden] for one window's features."""
        raise NotImplementedError

    def trained_modules(self) -> dict[str, nn.Module]:
        """What fine-tuning trains besides LoRA, by key prefix in the adapter file (after `base_model.model.`);
        `forward(batch of training inputs)` must run them with gradients. The training input is what comes
        before the first trained module (LTU-AS: the feature Whisper's states; LTU: the fbank), cached per clip."""
        raise NotImplementedError


def touch(module: nn.Module) -> None:
    """Read one value per memory page of every weight, so none is first read from disk during a question."""
    for t in (*module.parameters(), *module.buffers()):
        if t.device.type == "cpu" and t.layout == torch.strided and t.numel():
            flat = t.detach().reshape(-1)
            flat[:: max(1, 4096 // flat.element_size())].float().sum()


class AudioLM(nn.Module):
    """The audio tokens come first, then the prompt's embeddings; positions simply continue."""

    def __init__(self, llm: nn.Module, front: FrontEnd | None = None, adapter: str | None = None,
                 trainable: int = 0):
        super().__init__()
        self.llm = llm
        self.front = front
        self.adapter = adapter  # this model's LoRA adapter name in `llm` (several share one base when comparing)
        self.trainable = trainable  # parameters the authors trained: LoRA + audio modules (all, for a full fine-tune)

    def activate(self) -> None:
        """Switch the shared base to this model's LoRA; a no-op for a base that holds only one adapter."""
        if self.adapter is not None and len(getattr(self.llm, "peft_config", {})) > 1:
            from peft.tuners.lora import LoraLayer

            for module in self.llm.modules():
                if isinstance(module, LoraLayer):
                    module.set_adapter(self.adapter)

    @torch.inference_mode()
    def audio_tokens(self, features: Tensor) -> Tensor:
        assert self.front is not None
        return self.front.tokens(features)

    @torch.inference_mode()
    def embed(self, ids: list[int]) -> Tensor:
        emb = self.llm.get_input_embeddings()
        return emb(torch.tensor([ids], device=emb.weight.device))

    @torch.inference_mode()
    def prefill(self, embeds: Tensor, cache) -> Tensor:
        """Extend `cache` by these positions; logits of the last one only (no vocab-wide prefill logits)."""
        out = self.llm(inputs_embeds=embeds.to(self.llm.dtype), cache=cache, use_cache=True, logits_to_keep=1)
        return out.logits[0, -1]

    @torch.inference_mode()
    def step(self, token: int, cache) -> Tensor:
        ids = torch.tensor([[token]], device=self.llm.get_input_embeddings().weight.device)
        return self.llm(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1).logits[0, -1]

    @torch.inference_mode()
    def warm_up(self, positions: int = 16) -> None:
        """Do now what would otherwise make the first question after loading 3-4x slower than later ones:
        page in every weight (safetensors are memory-mapped, so a fresh model has read little of its
        file) and run the LLM once at a prefill shape and a decode shape (thread pools, kernel set-up)."""
        touch(self)
        cache = self.new_cache()
        token = min(1, self.llm.config.vocab_size - 1)
        self.prefill(self.embed([token] * positions), cache)  # a prompt head into an empty cache
        self.prefill(self.embed([token] * positions), cache)  # a question after a cached head (another attention path)
        self.step(token, cache)

    def new_cache(self):
        from transformers import DynamicCache

        return DynamicCache(config=self.llm.config)

    @staticmethod
    def fork_cache(cache):
        import copy

        return copy.deepcopy(cache)


class Family:
    """How one kind of checkpoint is loaded and prompted. `kind` matches `Profile.kind`."""

    kind: ClassVar[str]
    label: ClassVar[str] = ""
    hears_audio: ClassVar[bool] = True
    reads_transcript: ClassVar[bool] = True
    # Generation settings that differ from GenerationSettings' (the authors' demo) for this family.
    defaults: ClassVar[dict] = {}
    # A tensor-name prefix only this family's adapter files hold: how `--adapter FILE` picks the family.
    adapter_marker: ClassVar[str] = ""

    def load(self, profile: Profile, plan: Plan, notes: list[str], progress: Progress,
             base: AudioLM | None = None) -> tuple[AudioLM, object]:
        """The model and its tokenizer, strictly checked; raises CheckpointError naming what is wrong.

        With `base` (a loaded model whose base LLM holds the same weights), a LoRA adapter is attached
        beside the one already there instead of loading the base again."""
        raise NotImplementedError

    def prompt(self, tokenizer, question: str, text_input: str) -> tuple[list[int], list[int], str]:
        """Token ids of the whole prompt, of its head (what every question about a clip shares), and its text."""
        raise NotImplementedError
