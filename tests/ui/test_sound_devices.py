"""Sound devices from the window: recording (Ctrl+R, level, time, a new clip) and playback of the window."""

from __future__ import annotations

import time

import pulse_server
from conftest import wait_clips
from pulse_server import best_correlation, speech_file
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from ltu_desktop.audio.io import load_audio

pulse = pulse_server.pulse  # the fixture: a private PulseAudio server


def test_record_speech_into_a_new_clip(make_window, qtbot, pulse, tmp_path, config_dir):
    speech = speech_file(tmp_path)
    window = make_window()
    bar = window.record_bar
    assert bar.devices.isEnabled() and bar.device_name()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    QTest.keyClick(window.clip_list, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert bar.recorder.recording, window.messages.text()
    assert bar.button.isChecked() and bar.button.text() == "Stop"
    qtbot.wait(300)
    player = pulse.play(speech)
    levels = []
    while player.poll() is None:
        qtbot.wait(30)
        levels.append(bar.meter.level())
    qtbot.wait(300)
    assert max(levels) > 0.05 and bar.elapsed.text() != "0:00.0"
    QTest.keyClick(window.clip_list, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert not bar.recorder.recording and not bar.button.isChecked()
    clip = wait_clips(qtbot, window, 1)[0]
    assert clip.recorded and clip.name.startswith("recording-") and clip.path.startswith(str(tmp_path / "data"))
    played = load_audio(speech)
    assert best_correlation(clip.audio.samples, played.samples) > 0.9
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)


def test_recording_without_a_microphone_shows_a_message(make_window, qtbot, monkeypatch):
    import ltu_desktop.audio.recorder as rec

    monkeypatch.setattr(rec, "input_devices", lambda: [])
    window = make_window()
    window.record_action.trigger()
    assert "No microphone found" in window.messages.text()
    assert not window.record_bar.button.isChecked()
    time.sleep(0.05)
    assert window.controller.clips == {}


def test_play_window_sends_the_window_to_the_speakers(make_window, qtbot, pulse, tmp_path):
    """Play the model's window of a chirp and record the sink's monitor: what comes out is that window."""
    import numpy as np
    import soundfile as sf

    from ltu_desktop.audio.recorder import Recorder

    rate = 16_000
    t = np.arange(20 * rate) / rate
    chirp = (0.4 * np.sin(2 * np.pi * (100 + 40 * t) * t)).astype(np.float32)
    sf.write(str(tmp_path / "chirp.wav"), chirp, rate)
    window = make_window()
    window.add_files([tmp_path / "chirp.wav"])
    clip = wait_clips(qtbot, window, 1)[0]
    window.waveform.set_window_start(4.0)
    recorder = Recorder()
    recorder.start(tmp_path / "heard.wav")
    qtbot.wait(200)
    with qtbot.waitSignal(window.player_bar.position, check_params_cb=lambda t: t is not None, timeout=3000):
        window.play_window_action.trigger()
    assert window.player_bar.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not window.player_bar.player.playing, timeout=15_000)
    qtbot.wait(200)
    heard = load_audio(recorder.stop())
    window_part = clip.audio.slice(4.0, 14.0)
    other_part = clip.audio.slice(14.5, 20.0)
    assert best_correlation(heard.samples, window_part) > 0.9
    assert best_correlation(heard.samples, other_part) < 0.5
    assert window.player_bar.play_button.text() == "Play"


def test_playback_without_speakers_shows_a_message(make_window, qtbot, tone_file, monkeypatch):
    import sounddevice as sd

    def no_output(*args, **kwargs):
        raise sd.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sd, "query_devices", no_output)
    window = make_window()
    window.add_files([tone_file])
    wait_clips(qtbot, window, 1)
    window.play_action.trigger()
    assert "No audio output device" in window.messages.text()
    assert window.player_bar.play_button.text() == "Play"


def test_recording_starts_at_the_press(make_window, qtbot, pulse):
    """Issue 14, item 11: a 2-second tap gave 0.2 s of audio while the input stream was still opening."""
    window = make_window()
    bar = window.record_bar
    qtbot.waitUntil(lambda: bar.recorder.armed, timeout=5000)  # opened ahead of the press
    window.record_action.trigger()
    qtbot.wait(120)
    assert bar.elapsed.text() != "0:00.0"  # the time runs at once
    qtbot.wait(1900)
    window.record_action.trigger()
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.audio is not None, timeout=5000)
    assert clip.duration > 1.8
