"""The bundled sample clip: small, 16 kHz mono, and reproducible from its text with espeak-ng."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLE_WAV, SAMPLE_TXT = RESOURCES / "sample_meeting.wav", RESOURCES / "sample_meeting.txt"


def test_sample_clip_format():
    info = sf.info(SAMPLE_WAV)
    assert (info.samplerate, info.channels) == (16_000, 1)
    assert 5 < info.duration < 20 and SAMPLE_WAV.stat().st_size < 700_000
    text = SAMPLE_TXT.read_text()
    for fact in ("Maria Lopez", "Thursday", "three thirty", "room twelve", "fourth floor", "eight percent"):
        assert fact in text


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install -y espeak-ng)")
def test_make_samples_regenerates_the_clip(tmp_path):
    for name in ("make_samples.sh", "sample_meeting.txt"):
        shutil.copy2(RESOURCES / name, tmp_path / name)
    subprocess.run(["bash", str(tmp_path / "make_samples.sh")], check=True, timeout=60,
                   env={**os.environ, "PYTHON": sys.executable})
    made, kept = sf.read(tmp_path / "sample_meeting.wav")[0], sf.read(SAMPLE_WAV)[0]
    assert abs(len(made) - len(kept)) < 0.05 * len(kept)
