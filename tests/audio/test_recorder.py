"""The recorder against a real audio source: a private PulseAudio server whose sink we play speech into."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
import pulse_server  # noqa: E402
from pulse_server import best_correlation, speech_file  # noqa: E402

from ltu_desktop.audio import recorder as rec_mod  # noqa: E402
from ltu_desktop.audio.io import load_audio  # noqa: E402
from ltu_desktop.audio.recorder import Recorder, RecorderError  # noqa: E402

pulse = pulse_server.pulse  # the fixture: a private PulseAudio server


def test_recording_what_is_played_into_the_microphone(pulse, tmp_path):
    speech = speech_file(tmp_path)
    r = Recorder()
    device = r.start(tmp_path / "take.wav")
    assert r.recording and device.name
    time.sleep(0.3)
    player = pulse.play(speech)
    peak, grew, read, pieces = 0.0, [], 0, []
    while player.poll() is None:
        peak = max(peak, r.level)
        grew.append(r.elapsed)
        pieces.append(r.since(read))  # a reader that remembers how far it got: only what is new each time
        read += len(pieces[-1])
        time.sleep(0.02)
    time.sleep(0.3)
    on_disk = sf.info(str(tmp_path / "take.wav")).frames
    path = r.stop()
    whole, tail = r.since(0), r.since(read)  # the take stays readable until the next one starts
    assert not r.recording and r.error is None
    assert peak > 0.05, "the level meter should move while speech plays"
    assert grew == sorted(grew) and grew[-1] > grew[0]
    assert on_disk > 0, "the file must be readable on disk while recording goes on"
    written, _ = sf.read(str(path), dtype="float32")
    assert len(whole) == len(written) == read + len(tail) and r.samplerate == sf.info(str(path)).samplerate
    assert np.allclose(np.concatenate([*pieces, tail]), written, atol=1e-4)  # each sample handed out once, in order
    recorded = load_audio(path)
    played = load_audio(speech)
    assert recorded.duration >= played.duration
    assert best_correlation(recorded.samples, played.samples) > 0.9


def test_a_crash_mid_recording_keeps_what_was_said(pulse, tmp_path):
    """Kill the recording process outright: the WAV on disk is still valid and holds the audio."""
    out = tmp_path / "crash.wav"
    script = textwrap.dedent(f"""
        import time
        from ltu_desktop.audio.recorder import Recorder
        r = Recorder()
        r.start({str(out)!r})
        print("recording", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "recording"
        time.sleep(1.8)
    finally:
        child.kill()
        child.wait(10)
    info = sf.info(str(out))
    assert info.frames / info.samplerate > 0.8
    data, _ = sf.read(str(out))
    assert len(data) == info.frames


def test_no_microphone_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(rec_mod, "input_devices", lambda: [])
    with pytest.raises(RecorderError, match="No microphone found"):
        Recorder().start(tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_the_chosen_device_is_used_and_an_unknown_one_falls_back_to_the_default():
    devices = [rec_mod.InputDevice(0, "USB mic", 48000.0, False), rec_mod.InputDevice(3, "Built-in", 44100.0, True)]
    assert rec_mod._pick(devices, "USB mic").index == 0
    assert rec_mod._pick(devices, 0).name == "USB mic"
    assert rec_mod._pick(devices, "Gone mic").name == "Built-in"
    assert rec_mod._pick(devices, None).name == "Built-in"


def test_stop_without_start_and_double_start_are_refused(pulse, tmp_path):
    r = Recorder()
    with pytest.raises(RecorderError, match="Not recording"):
        r.stop()
    r.start(tmp_path / "a.wav")
    try:
        with pytest.raises(RecorderError, match="Already recording"):
            r.start(tmp_path / "b.wav")
    finally:
        r.stop()
    assert np.isfinite(sf.read(str(tmp_path / "a.wav"))[0]).all()
