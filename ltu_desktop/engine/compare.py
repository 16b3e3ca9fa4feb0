"""Several models answering the same question about the same clip, each with its own timings.

When two profiles' base LLM folders hold identical weights (checked by content: vicuna_ltu and
vicuna_ltuas ship the same Vicuna shards), the base is loaded once and each profile's LoRA adapter
is attached to it under its own name and switched on before that profile answers: comparing costs
one base's memory. Otherwise the memory plan decides whether all engines fit at once or take turns
(each loaded, asked and released in order).
"""

from __future__ import annotations

import gc
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import load_pickled
from .engine import Engine, memory_plan
from .precision import plan as make_plan
from .types import EngineError, Profile

Progress = Callable[[str, float], None]
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_digests: dict[tuple, str] = {}
_digest_lock = threading.Lock()


def _digest(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key not in _digests:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
            _digests[key] = h.hexdigest()
        return _digests[key]


def _weight_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(Path(folder).iterdir()) if p.suffix in _WEIGHT_SUFFIXES and p.is_file()}


def holds_llm_weights(adapter: Path | None) -> bool:
    """A full fine-tune replaces the base's weights, so it can never share a base (read from its tensor names)."""
    return adapter is not None and any(k.endswith("embed_tokens.weight") for k in load_pickled(adapter, "Adapter"))


def same_base(a: Path, b: Path, progress: Progress | None = None) -> bool:
    """True when both folders hold byte-identical weight files (names, sizes, then SHA-256, which is
    remembered per file for this process). A symlinked or identical path needs no reading."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    fa, fb = _weight_files(a), _weight_files(b)
    if fa.keys() != fb.keys() or any(fa[n].stat().st_size != fb[n].stat().st_size for n in fa):
        return False
    for i, name in enumerate(fa):
        if progress:
            progress(f"Checking that both base folders hold the same weights ({name})", 0.01 + 0.01 * i / len(fa))
        if os.path.realpath(fa[name]) != os.path.realpath(fb[name]) and _digest(fa[name]) != _digest(fb[name]):
            return False
    return True


@dataclass
class Comparison:
    """Engines for each profile, in order. `engine(i)` loads on demand when they take turns."""

    profiles: list[Profile]
    device: str
    precision: str
    how: str  # "shared base" | "all loaded" | "one at a time"
    progress: Progress | None = None
    loaded: list[Engine | None] | None = None  # None where an engine is not loaded (yet, or any more)

    def engine(self, i: int) -> Engine:
        assert self.loaded is not None
        if self.loaded[i] is None:
            self.loaded[i] = Engine.load(self.profiles[i], self.device, self.precision, progress=self.progress)
        return self.loaded[i]

    def done_with(self, i: int) -> None:
        """Taking turns: the engine just used is released before the next one loads."""
        if self.how == "one at a time" and self.loaded is not None and self.loaded[i] is not None:
            device = self.loaded[i].plan.device
            self.loaded[i] = None
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()


def load_comparison(profiles: list[Profile], device: str = "auto", precision: str = "auto",
                    progress: Progress | None = None, loaded: Engine | None = None) -> Comparison:
    """Share one base when every profile's base holds the same weights and LoRA can be switched on it;
    else load them all if the memory plan says they fit together, or let them take turns.

    `loaded`: an engine already loaded for profiles[0] (the app's model), used instead of loading it again."""
    if len(profiles) < 2:
        raise EngineError("Comparing needs at least two models, e.g. --compare ltu,ltu-as.")
    plan = make_plan(device, precision)
    shareable = not plan.merge_lora and all(p.kind != "demo" and not holds_llm_weights(p.adapter) for p in profiles)
    if shareable and all(same_base(profiles[0].llm, p.llm, progress) for p in profiles[1:]):
        first = loaded or Engine.load(profiles[0], device, precision, progress=progress)
        engines: list[Engine | None] = [first]
        for p in profiles[1:]:
            engines.append(Engine.load(p, device, precision, progress=progress, share_base=first))
        return Comparison(profiles, device, precision, "shared base", progress, engines)
    # Free memory is measured now: an engine already loaded is in it, not in what is still to load.
    estimates = [memory_plan(p, plan) for p in profiles[1 if loaded is not None else 0:]]
    available = next((e.available_mb for e in estimates if e is not None), None)
    total = sum(e.total_mb for e in estimates if e is not None)
    together = available is None or total <= available
    how = "all loaded" if together else "one at a time"
    comparison = Comparison(profiles, device, precision, how, progress, [loaded] + [None] * (len(profiles) - 1))
    if together:
        for i in range(len(profiles)):
            comparison.engine(i)
    return comparison
