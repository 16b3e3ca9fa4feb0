"""Shared fixtures: tiny LTU-AS checkpoints in the released formats, built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _isolated_dirs(tmp_path_factory):
    """Never touch the person's own cache, data or config folders."""
    root = tmp_path_factory.mktemp("home")
    for var in ("LTU_DESKTOP_DATA", "LTU_DESKTOP_CONFIG", "LTU_DESKTOP_MODELS"):
        os.environ.setdefault(var, str(root / var.lower()))
    os.environ.setdefault("LTU_DESKTOP_CACHE", str(Path(os.environ.get("LTU_TEST_CACHE", root / "cache"))))


@pytest.fixture(scope="session")
def tiny_profile(tmp_path_factory):
    from ltu_desktop.models.tiny import make_tiny_profile

    return make_tiny_profile(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_profile):
    from ltu_desktop.engine.engine import Engine

    return Engine.load(tiny_profile, device="cpu", precision="fp32")


@pytest.fixture
def noise_audio():
    from ltu_desktop.audio.io import from_array

    rng = np.random.default_rng(0)
    return from_array((rng.standard_normal(16000 * 12) * 0.1).astype(np.float32), source="noise")


@pytest.fixture
def tone_audio():
    from ltu_desktop.audio.io import from_array

    t = np.arange(16000 * 6) / 16000
    return from_array((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), source="tone")


REPO = Path(__file__).resolve().parents[1]
SAMPLE_WAV = REPO / "resources" / "sample_meeting.wav"
SAMPLE_TXT = REPO / "resources" / "sample_meeting.txt"


# The demo models, converted once per test session (the LLM conversion alone takes ~20 s).
@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory) -> Path:
    """The session's cache (tests/conftest.py points LTU_DESKTOP_CACHE at a temp folder, shared with
    the other tests that load the demo profile); never the person's own."""
    env = os.environ.get("LTU_DESKTOP_CACHE")
    return Path(env) if env else tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_whisper(demo_cache) -> Path:
    from ltu_desktop.models.demo_assets import ensure_whisper

    return ensure_whisper("tiny.en", cache_dir=demo_cache)


@pytest.fixture(scope="session")
def demo_assets(demo_cache, demo_whisper):
    from ltu_desktop.models.demo_assets import ensure_demo_assets

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


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    """A text-embedding model for `eval --scorer`: a BERT of the real architecture, random weights, a tiny
    WordPiece vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    folder = tmp_path_factory.mktemp("bert")
    words = ("sound of dog cat rooster bird crowing a and the speaker is male female music genre rock jazz pop "
             "##s ##ing noise tone hip hop").split()
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words) + "\n")
    BertTokenizer(str(folder / "vocab.txt")).save_pretrained(str(folder))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=5 + len(words), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(str(folder))
    return folder
