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


def profile_from_paths(llm: str | Path, adapter: str | Path, feature_whisper: str | Path | None,
                       asr_whisper: str | Path | None, name: str = "custom", kind: str = "ltu-as") -> Profile:
    label = "LTU" if kind == "ltu" else "LTU-AS"
    return Profile(
        name, Path(llm).expanduser(), Path(asr_whisper).expanduser() if asr_whisper else None,
        Path(feature_whisper).expanduser() if feature_whisper else None, Path(adapter).expanduser(), kind=kind,
        label=f"{label} ({Path(adapter).name})",
    )


def profile_from_files(llm: Path | None, adapter: Path | None, feature_whisper: Path | None,
                asr_whisper: Path | None) -> Profile:
    """The adapter file says which model it is: LTU (CAV-MAE inside, no feature Whisper) or LTU-AS."""
    from ..engine.engine import family_of_adapter
    from ..engine.types import EngineError

    if adapter is None:
        given = " and ".join(n for n, v in (("--llm", llm), ("--whisper", feature_whisper)) if v is not None)
        raise EngineError(f"{given} needs --adapter as well: an LTU adapter (with --llm) or an LTU-AS one "
                          "(with --llm and --whisper); see `ltu-desktop models`.")
    kind = family_of_adapter(Path(adapter).expanduser())
    if kind == "ltu":
        if llm is None:
            raise EngineError(f"{Path(adapter).name} is an LTU adapter: it needs --llm (the vicuna_ltu folder) too.")
        if feature_whisper is not None:
            raise EngineError(f"{Path(adapter).name} is an LTU adapter: LTU hears audio through its own CAV-MAE "
                              "encoder and takes no --whisper (--asr-whisper shows a transcript, which it does not read).")
        return profile_from_paths(llm, adapter, None, asr_whisper, kind="ltu")
    missing = [n for n, v in (("--llm", llm), ("--whisper", feature_whisper)) if v is None]
    if missing:
        raise EngineError(f"{Path(adapter).name} is an LTU-AS adapter: it needs {', '.join(missing)} as well "
                          "(see `ltu-desktop models`).")
    return profile_from_paths(llm, adapter, feature_whisper, asr_whisper or feature_whisper)


def resolve_profile(name: str | None, llm: Path | None = None, adapter: Path | None = None,
                    feature_whisper: Path | None = None, asr_whisper: Path | None = None,
                    progress: Callable[[str, float], None] | None = None) -> Profile:
    """Files given by path win; else a profile name: demo (built in), tiny / tiny-ltu (random test models), ltu-as
    (the catalog's default LTU-AS profile) or a catalog profile."""
    from ..paths import cache_dir

    if llm or adapter or feature_whisper:
        return profile_from_files(llm, adapter, feature_whisper, asr_whisper)
    name = name or os.environ.get("LTU_DESKTOP_PROFILE") or "demo"
    if (Path(name).expanduser() / "training.json").is_file():
        return run_profile(Path(name).expanduser())
    if name == "demo":
        return demo_profile(progress)
    if name in ("tiny", "tiny-ltu"):
        from .tiny import make_tiny_ltu_profile, make_tiny_profile

        tiny = make_tiny_profile(cache_dir() / "tiny")
        return tiny if name == "tiny" else make_tiny_ltu_profile(cache_dir() / "tiny-ltu", tiny.llm, tiny.asr_whisper)
    from .catalog import Catalog, profile_by_name

    if name == "ltu-as":  # the family's name stands for its default profile
        name = Catalog.load().default_profile
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
    family = card.get("family", "ltu-as")
    return Profile(run.name, paths["llm"], paths.get("asr_whisper"), paths.get("feature_whisper"), run / "adapter.bin",
                   kind=family, label=f"Fine-tuned {run.name} ({'LTU' if family == 'ltu' else 'LTU-AS'})")
