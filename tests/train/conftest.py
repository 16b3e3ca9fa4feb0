"""Eight labelled clips (distinct tones, distinct questions and answers) in the OpenASQA format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ANSWERS = ["A dog barks twice.", "Rain falls on a roof.", "A bell rings.", "Two people are talking.",
           "A car passes by.", "Birds chirp in a park.", "Music plays softly.", "The speaker sounds calm."]
QUESTIONS = ["What do you hear?", "Describe the sound.", "What is the sound?", "Who is talking?", "What passes?",
             "Where is this?", "What plays?", "How does the speaker sound?"]


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
    return ["--llm", str(profile.llm), "--adapter", str(profile.adapter), "--whisper", str(profile.feature_whisper),
            "--asr-whisper", str(profile.asr_whisper), "--device", "cpu"]
