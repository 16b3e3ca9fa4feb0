"""The fine-tuning loop on Hugging Face Accelerate: one process, or several data-parallel ones started by
`accelerate launch` (the model is wrapped in DDP; each process takes its share of every global batch).

Data order is a seeded permutation per epoch and every global batch is split the same way whatever the
number of processes, and the loss is the mean over the global batch's answer tokens, so N processes
compute the same update as one. A checkpoint holds the adapter, optimizer, scheduler, position in
the data and each process's random state: a run killed at any moment resumes to the same weights.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from ..engine import precision as precision_mod
from ..engine.types import Cancelled, EngineError, Profile
from . import save
from .data import IGNORE, DiskCache, Example, Report, prepare
from .model import Trainee, build, feature_key, feature_model, load_adapter_state

Progress = Callable[[str, float], None]
LEARNING_RATE = {"ltu-as": 2e-4, "ltu": 1e-4}  # the authors' finetune_toy.sh for each family


@dataclass
class TrainSettings:
    """Defaults are the authors' fine-tuning recipe (finetune.py + finetune_toy.sh)."""

    epochs: int = 3
    learning_rate: float | None = None  # None: the family's (LTU-AS 2e-4, LTU 1e-4)
    batch_size: int = 256  # effective batch: micro-batches x gradient accumulation x processes
    micro_batch_size: int = 4
    cutoff_len: int = 100  # text tokens (prompt + answer) per item, as the authors cut
    warmup_steps: int = 100  # capped at a tenth of the run, so a small dataset still reaches the full rate
    lora_rank: int | None = None  # None: the adapter's (8 in the released ones)
    lora_dropout: float = 0.05
    val_size: int | None = None  # None: 5% of the items (at most 2000) when there are 40 or more, else none
    save_steps: int = 100
    max_grad_norm: float = 1.0
    seed: int = 42
    device: str = "auto"
    precision: str = "auto"  # CUDA: nf4 (QLoRA); CPU: fp32 (bf16 also works)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Result:
    run: Path
    adapter: Path
    status: str  # finished | stopped
    steps: int
    report: Report
    card: dict = field(default_factory=dict)


def training_plan(device: str, precision: str) -> precision_mod.Plan:
    """QLoRA on CUDA (NF4 base with bf16 compute where the GPU has it); fp32 or bf16 on the CPU."""
    dev = precision_mod.resolve_device(device)
    if precision == "auto":
        precision = "nf4" if dev.type == "cuda" else "fp32"
    if precision == "int8":
        raise EngineError("int8 is for answering; to train in little memory use nf4 (QLoRA) on a GPU.")
    if precision == "fp16" and dev.type == "cuda":
        raise EngineError("fp16 training needs loss scaling; use nf4 (QLoRA) or bf16.")
    plan = precision_mod.plan(str(dev), precision)
    if dev.type == "cuda" and torch.cuda.is_bf16_supported():
        plan = replace(plan, llm_dtype=torch.bfloat16)
    return plan


def training_memory(profile: Profile, plan: precision_mod.Plan, s: TrainSettings,
                    available: float | None = None) -> precision_mod.MemoryEstimate | None:
    """Weights, the trainable tensors with their gradients and AdamW moments, and one micro-batch's activations."""
    import json

    try:
        cfg = json.loads((profile.llm / "config.json").read_text())
        adapter = profile.adapter.stat().st_size if profile.adapter and profile.adapter.exists() else 0
    except (OSError, ValueError):
        return None
    base = precision_mod.estimate(plan, cfg, [profile.feature_whisper], 0, max_tokens=1, available=available)
    parts = {k: v for k, v in base.parts.items() if k not in ("KV cache", "adapter")}
    trainable = adapter / 4
    optimizer_bytes = 2.0 if plan.quant == "nf4" else 8.0  # paged AdamW 8-bit keeps two 1-byte moments
    parts["trainable + gradients + optimizer"] = trainable * (4 + 4 + optimizer_bytes) / 2**20
    tokens = s.micro_batch_size * (s.cutoff_len + 32)
    act_bytes = 2 if plan.llm_dtype != torch.float32 else 4
    per_layer = 17 * cfg["hidden_size"] * act_bytes  # kept activations per token and layer
    if plan.quant is not None:
        per_layer = 2 * cfg["hidden_size"] * act_bytes  # gradient checkpointing keeps layer inputs only
    parts["activations"] = (tokens * per_layer * cfg["num_hidden_layers"] + tokens * cfg["vocab_size"] * 12) / 2**20
    if profile.kind == "ltu" and profile.adapter is not None:
        encoder = _cavmae_activations(profile.adapter)
        parts["audio encoder activations"] = s.micro_batch_size * encoder * act_bytes / 2**20
    return precision_mod.MemoryEstimate({k: round(v, 1) for k, v in parts.items()}, base.available_mb)


def _cavmae_activations(adapter) -> int:
    """Values one item keeps for the backward pass through CAV-MAE, which trains (~0.7 GB in fp32 at ViT-B's
    512 positions): per block about 19 position x width tensors and two attention maps per head."""
    from ..engine.ltu import HEADS, read_ltu

    try:
        dims = read_ltu(adapter).dims  # memory-mapped: the sizes without reading the weights
    except EngineError:
        return 0
    n, c = dims.patches, dims.width
    return (19 * n * c + 2 * HEADS * n * n) * (dims.audio_blocks + dims.shared_blocks)


def check_memory(profile: Profile, plan: precision_mod.Plan, s: TrainSettings) -> precision_mod.MemoryEstimate | None:
    """A clear refusal naming a setting that would fit, before anything large is read."""
    need = training_memory(profile, plan, s)
    if need is None or need.fits:
        return need
    hints = []
    for micro in (s.micro_batch_size // 2, 1):
        if 0 < micro < s.micro_batch_size and training_memory(profile, plan, replace(s, micro_batch_size=micro)).fits:
            hints.append(f"--micro-batch-size {micro}")
            break
    for p in (("nf4",) if plan.device.type == "cuda" else ("bf16",)):
        if p != plan.precision and training_memory(profile, training_plan(plan.device.type, p), s).fits:
            hints.append(f"--precision {p}")
    hint = " or ".join(hints) or "a GPU with more memory (QLoRA: --device cuda --precision nf4)"
    raise EngineError(f"Training {profile.describe()} in {plan.describe()} needs {need.describe()}; try {hint}.")


def split(examples: list[Example], s: TrainSettings) -> tuple[list[Example], list[Example]]:
    n = len(examples)
    val = s.val_size if s.val_size is not None else (min(2000, n // 20) if n >= 40 else 0)
    if val >= n:
        raise EngineError(f"--val-size {val} leaves nothing to train on ({n} items).")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(s.seed)).tolist()
    return [examples[i] for i in order[val:]], [examples[i] for i in order[:val]]


def batches_per_epoch(n: int, batch: int, n_proc: int) -> int:
    """A last, partial batch too small to give every process an item is left out of that epoch."""
    return n // batch + (1 if n % batch >= n_proc else 0)


def micro_batches(indices: list[int], micro: int, n_proc: int) -> list[list[int]]:
    """One global batch split into micro-batches, the same split whatever the process count divides it by."""
    n_micro = n_proc * max(1, min(math.ceil(len(indices) / (n_proc * micro)), len(indices) // n_proc))
    size, extra = divmod(len(indices), n_micro)
    out, at = [], 0
    for k in range(n_micro):
        take = size + (1 if k < extra else 0)
        out.append(indices[at:at + take])
        at += take
    return out


def collate(examples: list[Example], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Cached features stacked; ids right-padded (pad 0, not scored) so positions match the engine's."""
    width = max(len(e.ids) for e in examples)
    ids = torch.zeros(len(examples), width, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros(len(examples), width, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, :len(e.ids)] = torch.tensor(e.ids)
        labels[row, :len(e.labels)] = torch.tensor(e.labels)
        mask[row, :len(e.ids)] = 1
    feats = torch.stack([torch.load(e.features, map_location="cpu", weights_only=True) for e in examples])
    return feats.float().to(device), ids.to(device), labels.to(device), mask.to(device)


def versions() -> dict:
    import accelerate
    import peft
    import transformers

    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("ltu-desktop")
    except PackageNotFoundError:
        own = "unknown"
    return {"ltu_desktop": own, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__}


class Trainer:
    """One run: prepare the data, build the model, train; `on_step(dict)` after every optimizer step."""

    def __init__(self, profile: Profile, data: Path, run: Path, settings: TrainSettings | None = None,
                 progress: Progress | None = None, on_step: Callable[[dict], None] | None = None,
                 cancel: threading.Event | None = None):
        from accelerate import Accelerator, DistributedDataParallelKwargs

        self.profile, self.data, self.run = profile, Path(data), Path(run)
        self.s = settings or TrainSettings()
        self.progress = progress or (lambda _m, _f: None)
        self.on_step = on_step or (lambda _d: None)
        self.cancel = cancel or threading.Event()
        self.plan = training_plan(self.s.device, self.s.precision)
        mixed = "bf16" if self.plan.llm_dtype == torch.bfloat16 else "no"
        # LTU trains all of CAV-MAE as the authors did, video norms and each block's other-modality norms
        # included, which no audio forward uses: data-parallel processes must expect parameters without gradients.
        ddp = DistributedDataParallelKwargs(find_unused_parameters=profile.kind == "ltu")
        self.acc = Accelerator(cpu=self.plan.device.type == "cpu", mixed_precision=mixed, kwargs_handlers=[ddp])
        if self.plan.device.type == "cuda":
            self.plan = replace(self.plan, device=self.acc.device)
        self.notes: list[str] = []

    @property
    def main(self) -> bool:
        return self.acc.is_main_process

    def check(self) -> Report:
        """Read and check the data, computing (or reading back) transcripts and features; no training."""
        _, tokenizer, family = self._model(build_it=False)
        return self._prepare(tokenizer, family)

    def _model(self, build_it: bool = True):
        if not build_it:
            from ..engine.engine import FAMILIES
            from ..engine.tokenizer import SentencePieceTokenizer

            if self.profile.kind not in FAMILIES:
                raise EngineError(f"Unknown model family {self.profile.kind!r}.")
            return None, SentencePieceTokenizer(self.profile.llm / "tokenizer.model"), FAMILIES[self.profile.kind]
        return build(self.profile, self.plan, self.s.lora_rank, self.s.lora_dropout, self.notes)

    def _prepare(self, tokenizer, family) -> Report:
        from ..paths import cache_dir

        loaded: dict = {}

        def features(audio, start):
            if "features" not in loaded:
                if self.profile.feature_whisper is not None:
                    self.progress(f"Reading the feature Whisper {self.profile.feature_whisper.name}", 0.0)
                loaded["features"] = feature_model(self.profile, self.plan)
            return loaded["features"](audio, start)

        def transcribe(audio):
            if "asr" not in loaded:
                from ..engine.transcribe import Transcriber

                loaded["asr"] = Transcriber(self.profile.asr_whisper, self.plan.device)
            return loaded["asr"](audio)

        cache = DiskCache(cache_dir() / "train", feature_key(self.profile), self.profile.asr_whisper)
        with self.acc.main_process_first():
            return prepare(self.data, family, tokenizer, features,
                           transcribe if self.profile.asr_whisper and family.reads_transcript else None, cache,
                           self.s.cutoff_len, self.progress, self.cancel)

    def train(self, resume: bool = False) -> Result:
        s, acc = self.s, self.acc
        need = check_memory(self.profile, self.plan, s)
        if need is not None and self.main:
            self.progress(f"Memory needed for training: {need.describe()}", 0.0)
        self.run.mkdir(parents=True, exist_ok=True)
        report = self.check()  # the feature models are freed before the LLM is read
        if self.cancel.is_set():
            raise Cancelled("Fine-tuning was cancelled while preparing the data.")
        if not report.examples:
            raise EngineError("No item passed the checks; nothing to train on.\n" + report.summary())
        self.progress("Building the model", 0.0)
        trainee, tokenizer, family = self._model()
        counts = trainee.trainable()
        if self.main:
            self.progress(f"Trainable parameters: {counts['total']:,} (LoRA {counts['lora']:,} + audio "
                          f"{counts['audio']:,}) of {counts['all']:,}", 0.0)
        train_set, val_set = split(report.examples, s)
        batch = min(s.batch_size, len(train_set))
        steps_per_epoch = batches_per_epoch(len(train_set), batch, acc.num_processes)
        if not steps_per_epoch:
            raise EngineError(f"{len(train_set)} training item(s) for {acc.num_processes} processes: "
                              "each process needs at least one.")
        total = s.epochs * steps_per_epoch
        warmup = min(s.warmup_steps, total // 10)
        lr = s.learning_rate or LEARNING_RATE.get(self.profile.kind, 2e-4)
        params = [p for p in trainee.parameters() if p.requires_grad]
        optimizer = self._optimizer(params, lr)
        from transformers import get_linear_schedule_with_warmup

        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
        # A quantized LLM is already on its device (bitsandbytes places it as it loads).
        model = acc.prepare_model(trainee, device_placement=self.plan.quant is None)
        optimizer = acc.prepare_optimizer(optimizer)
        state = {"step": 0, "steps": [], "validation": [], "best": None}
        if resume:
            state = self._resume(trainee, optimizer, scheduler, total)
        else:
            torch.manual_seed(s.seed + acc.process_index)
        card = {"kind": "ltu-desktop fine-tune", "family": self.profile.kind,
                "start": {k: str(v) if v else None for k, v in (
                    ("llm", self.profile.llm), ("adapter", self.profile.adapter),
                    ("feature_whisper", self.profile.feature_whisper), ("asr_whisper", self.profile.asr_whisper))},
                "data": {"path": str(self.data.resolve()), "train": len(train_set), "validation": len(val_set),
                         **report.to_dict()},
                "settings": {**s.to_dict(), "learning_rate": lr, "warmup_steps": warmup, "batch_size": batch,
                             "processes": acc.num_processes, "precision": self.plan.precision,
                             "device": self.plan.device.type},
                "trainable": counts, "versions": versions(), "notes": self.notes, "total_steps": total}
        status = self._loop(model, trainee, optimizer, scheduler, train_set, val_set, batch, total, state, card)
        adapter = self.run / "adapter.bin"
        return Result(self.run, adapter, status, state["step"], report, card)

    def _optimizer(self, params, lr):
        if self.plan.quant == "nf4" and self.plan.device.type == "cuda":
            import bitsandbytes as bnb

            return bnb.optim.PagedAdamW8bit(params, lr=lr, weight_decay=0.0)
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0)

    def _resume(self, trainee: Trainee, optimizer, scheduler, total: int) -> dict:
        folder = save.latest_checkpoint(self.run)
        if folder is None:
            raise EngineError(f"Nothing to resume in {self.run}: it has no whole checkpoint.")
        adapter, opt, state, rng = save.read_checkpoint(folder, self.acc.process_index)
        if state.get("total_steps") != total:
            raise EngineError(f"{folder} was a run of {state.get('total_steps')} steps, this one has {total}: "
                              "resume with the same data and settings.")
        load_adapter_state(trainee, adapter)
        optimizer.load_state_dict(opt["optimizer"])
        scheduler.load_state_dict(opt["scheduler"])
        if rng:
            save.set_rng_state(rng)
        self.progress(f"Resuming from {folder.name} (step {state['step']} of {total})", 0.0)
        return state

    def _loop(self, model, trainee, optimizer, scheduler, train_set, val_set, batch, total, state, card) -> str:
        s, acc = self.s, self.acc
        n_proc, rank = acc.num_processes, acc.process_index
        steps_per_epoch = batches_per_epoch(len(train_set), batch, n_proc)
        t0, done_at_start = time.perf_counter(), state["step"]
        rng_at_step = save.rng_state()
        status = "finished"
        try:
            while state["step"] < total:
                if self.cancel.is_set():
                    status = "stopped"
                    break
                step = state["step"]
                epoch, b = divmod(step, steps_per_epoch)
                order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(s.seed + epoch))
                indices = order[b * batch:(b + 1) * batch].tolist()
                rng_at_step = save.rng_state()
                loss = self._step(model, optimizer, scheduler, [train_set[i] for i in indices], n_proc, rank)
                state["step"] = step + 1
                elapsed = time.perf_counter() - t0
                rate = (state["step"] - done_at_start) * len(indices) / max(elapsed, 1e-9)
                entry = {"step": state["step"], "epoch": round(state["step"] / steps_per_epoch, 3), "loss": loss,
                         "lr": scheduler.get_last_lr()[0]}
                state["steps"].append(entry)
                eta = (total - state["step"]) * len(indices) / max(rate, 1e-9)
                self.on_step({**entry, "total": total, "samples_per_s": rate, "eta_s": eta})
                if state["step"] % s.save_steps == 0 or state["step"] == total:
                    self._save(model, trainee, optimizer, scheduler, val_set, state, card, "running")
        except KeyboardInterrupt:
            status = "stopped"
            if n_proc > 1:
                raise
            save.set_rng_state(rng_at_step)  # the interrupted step is redone on resume, with its own dropout
            if state["steps"] and state["steps"][-1]["step"] > state["step"]:
                state["steps"].pop()
        if state.get("saved_at") != state["step"]:
            self._save(model, trainee, optimizer, scheduler, val_set, state, card, status)
        else:
            self._write_card(card, state, status)
        return status

    def _step(self, model, optimizer, scheduler, examples: list[Example], n_proc: int, rank: int) -> float:
        """One optimizer step over a global batch; returns its mean loss per answer token."""
        acc = self.acc
        tokens = sum(e.answer_tokens for e in examples)
        chunks = micro_batches(list(range(len(examples))), self.s.micro_batch_size, n_proc)[rank::n_proc]
        total = torch.zeros((), device=acc.device)
        model.train()
        for k, chunk in enumerate(chunks):
            inputs = collate([examples[i] for i in chunk], acc.device)
            sync = k == len(chunks) - 1
            ctx = acc.no_sync(model) if not sync else contextlib.nullcontext()
            with ctx, acc.autocast():
                loss_sum = model(*inputs)
            acc.backward(loss_sum * n_proc / tokens)  # DDP averages over processes; this makes it a token mean
            total += loss_sum.detach().float()
        acc.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], self.s.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        return float(acc.reduce(total, "sum")) / tokens

    @torch.no_grad()
    def _validate(self, model, val_set: list[Example]) -> float | None:
        if not val_set:
            return None
        acc = self.acc
        model.eval()
        total = torch.zeros((), device=acc.device)
        mine = val_set[acc.process_index::acc.num_processes]
        for i in range(0, len(mine), self.s.micro_batch_size):
            with acc.autocast():
                total += model(*collate(mine[i:i + self.s.micro_batch_size], acc.device)).float()
        model.train()
        return float(acc.reduce(total, "sum")) / sum(e.answer_tokens for e in val_set)

    def _save(self, model, trainee, optimizer, scheduler, val_set, state, card, status: str) -> None:
        acc = self.acc
        val = self._validate(model, val_set)
        if val is not None:
            state["validation"].append({"step": state["step"], "loss": val})
        better = val is None or state["best"] is None or val < state["best"]["loss"]
        if better:
            state["best"] = {"step": state["step"], "loss": val}
        state["saved_at"] = state["step"]
        state["total_steps"] = card["total_steps"]
        final = save.checkpoint_dir(self.run, state["step"])
        tmp = final.with_name(final.name + ".tmp")
        if self.main:
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        save.write_rng(tmp, acc.process_index)
        acc.wait_for_everyone()
        if self.main:
            save.write_checkpoint(tmp, trainee, optimizer, scheduler, state)
            if better:
                save.save_adapter(trainee, self.run / "adapter.bin")
            save.commit_checkpoint(tmp, final)
            self._write_card(card, state, status)
        acc.wait_for_everyone()

    def _write_card(self, card: dict, state: dict, status: str) -> None:
        if not self.main:
            return
        card.update(status=status, step=state["step"], steps=state["steps"], validation=state["validation"],
                    best=state["best"])
        save.write_card(self.run, card)
        save.plot_loss(self.run, state["steps"], state["validation"])

