"""Profiles: the built-in demo, and LTU-AS from files the person has."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .types import Profile

DEMO_LABEL = "Demo (SmolLM2-135M + Whisper tiny.en): answers from speech only, does not hear other sounds"


def demo_profile(progress: Callable[[str, float], None] | None = None) -> Profile:
    """Small real models shipped on PyPI, converted once into the cache; no download from any hub."""
    from ..demo.assets import ensure_demo_assets

    assets = ensure_demo_assets(progress)
    return Profile("demo", assets.llm_dir, assets.asr_whisper, kind="demo", label=DEMO_LABEL)


def profile_from_paths(llm: str | Path, adapter: str | Path, feature_whisper: str | Path,
                       asr_whisper: str | Path | None, name: str = "custom") -> Profile:
    return Profile(
        name, Path(llm).expanduser(), Path(asr_whisper).expanduser() if asr_whisper else None,
        Path(feature_whisper).expanduser(), Path(adapter).expanduser(), kind="ltu-as",
        label=f"LTU-AS ({Path(adapter).name})",
    )
