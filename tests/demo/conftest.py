"""One converted demo cache per test session: the LLM conversion alone takes ~20 s."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_WAV = REPO / "resources" / "sample_meeting.wav"
SAMPLE_TXT = REPO / "resources" / "sample_meeting.txt"


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """The session's cache (tests/conftest.py points LTU_DESKTOP_CACHE at a temp folder, shared with
    the other tests that load the demo profile); never the person's own."""
    env = os.environ.get("LTU_DESKTOP_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_whisper(demo_cache) -> Path:
    from ltu_desktop.demo.assets import ensure_whisper

    return ensure_whisper("tiny.en", cache_dir=demo_cache)


@pytest.fixture(scope="session")
def demo_assets(demo_cache, demo_whisper):
    from ltu_desktop.demo.assets import ensure_demo_assets

    return ensure_demo_assets(cache_dir=demo_cache)


@pytest.fixture(scope="session")
def sample_samples():
    import soundfile as sf

    x, rate = sf.read(SAMPLE_WAV, dtype="float32")
    assert rate == 16_000
    return x


@pytest.fixture(scope="session")
def sample_text() -> str:
    return SAMPLE_TXT.read_text().strip()
