"""Eight labelled clips (distinct tones, distinct questions and answers) in the OpenASQA format, a tiny LTU
that trains fast, and one torch thread for every training test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

ANSWERS = ["A dog barks twice.", "Rain falls on a roof.", "A bell rings.", "Two people are talking.",
           "A car passes by.", "Birds chirp in a park.", "Music plays softly.", "The speaker sounds calm."]
QUESTIONS = ["What do you hear?", "Describe the sound.", "What is the sound?", "Who is talking?", "What passes?",
             "Where is this?", "What plays?", "How does the speaker sound?"]


@pytest.fixture(autouse=True)
def one_thread():
    """Runs compared across processes must sum in the same order: the child processes get one thread
    (OMP_NUM_THREADS=1), so the in-process runs do too. With two threads the in-process weights differed from
    the children's beyond 1e-6, and under load (MKL may take fewer threads than asked) greedy answers drifted."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_ltu_profile(tiny_profile, tmp_path_factory):
    """A tiny LTU on the tiny LTU-AS's LLM, its CAV-MAE cut into 32x32 patches: 128 encoder positions (16 audio
    tokens) instead of 512 make a training step ~20x cheaper; the architecture and file layout are LTU's."""
    from ltu_desktop.engine.ltu import EncoderDims
    from ltu_desktop.models.tiny import make_ltu_adapter, make_tiny_ltu_profile

    folder = tmp_path_factory.mktemp("ltu")
    make_ltu_adapter(folder / "ltu_adapter.bin", dims=EncoderDims(width=48, patch=(32, 32), patches=128, inner=96,
                                                                  audio_blocks=2, shared_blocks=1))
    return make_tiny_ltu_profile(folder, tiny_profile.llm, tiny_profile.asr_whisper)


def write_clip(path: Path, i: int, rate: int = 16000, seconds: float = 3.0) -> None:
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) + 0.05 * np.random.default_rng(i).standard_normal(t.size)
    sf.write(path, x.astype(np.float32), rate)


@pytest.fixture(scope="session")
def clips(tmp_path_factory) -> Path:
    """data.json next to its clips (relative audio_id); `input` given, so no transcript is needed."""
    folder = tmp_path_factory.mktemp("clips")
    items = []
    for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS)):
        write_clip(folder / f"clip{i}.wav", i)
        items.append({"audio_id": f"clip{i}.wav", "instruction": q, "input": "", "output": a})
    (folder / "data.json").write_text(json.dumps(items))
    return folder / "data.json"


def profile_args(profile) -> list[str]:
    files = (("--llm", profile.llm), ("--adapter", profile.adapter), ("--whisper", profile.feature_whisper),
             ("--asr-whisper", profile.asr_whisper))
    return [a for flag, path in files if path is not None for a in (flag, str(path))] + ["--device", "cpu"]
