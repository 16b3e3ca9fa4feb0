"""Transcripts as they are made: segments fill the panel as they are recognized, and a take is transcribed
while it is being recorded, so its transcript is there right after Stop."""

from __future__ import annotations

from dataclasses import replace

import pulse_server
import pytest
from conftest import wait_clips, write_tone
from pulse_server import speech_file
from ui_fakes import SEGMENTS, FakeEngine, loader_for

pulse = pulse_server.pulse  # the fixture: a private PulseAudio server


def texts(view) -> list[str]:
    return [view.segments.item(i).text() for i in range(view.segments.count())]


def test_segments_stream_into_the_panel_and_the_final_transcript_replaces_them(make_window, qtbot, tmp_path):
    window = make_window(loader=loader_for(FakeEngine(transcribe_delay=1.6)))
    view = window.transcript
    window.add_files([write_tone(tmp_path / "a.wav", 4.0)])
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: view.segments.count() == 1, timeout=5000)
    assert clip.transcript is None and "transcribing… (2 s of 4 s)" in view.state.text()
    assert texts(view) == ["0:00.0  The meeting is on Monday."] and view.progress.isVisible()
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=5000)
    assert texts(view) == ["0:00.0  The meeting is on Monday.", "0:01.5  Bring the slides."]
    assert not view.progress.isVisible() and clip.partial == []


def test_a_clip_opened_while_another_is_transcribed_shows_none_of_its_segments(make_window, qtbot, tmp_path):
    window = make_window(loader=loader_for(FakeEngine(transcribe_delay=2.0)))
    view = window.transcript
    window.add_files([write_tone(tmp_path / "a.wav", 4.0)])
    a = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: a.transcript_state == "running", timeout=5000)
    window.add_files([write_tone(tmp_path / "b.wav", 6.0, freq=300.0)])
    b = wait_clips(qtbot, window, 2)[1]
    assert window.controller.current is b
    qtbot.waitUntil(lambda: len(a.partial) == 1, timeout=5000)
    assert view.segments.count() == 0 and view.state.text() == "queued…"  # A's segment went to A only
    qtbot.waitUntil(lambda: b.transcript_state == "running" and view.segments.count() == 1, timeout=5000)
    assert "of 6 s" in view.state.text() and a.transcript.segments == SEGMENTS
    window.clip_list.select(a.id)
    assert texts(view)[1] == "0:01.5  Bring the slides." and view.state.text() == "language: en"


@pytest.mark.slow
def test_a_take_is_transcribed_while_it_is_recorded(make_window, qtbot, pulse, tmp_path, tiny_profile, demo_whisper,
                                                    monkeypatch):
    """Real recording from the private PulseAudio source, real tiny.en: live text before Stop, the whole
    transcript right after it."""
    import ltu_desktop.ui.live_controller as live_controller

    monkeypatch.setattr(live_controller, "LIVE_EVERY_S", 3.0)
    speech = speech_file(tmp_path, "The meeting starts at nine in the morning. Please bring the quarterly report. "
                                   "We will talk about the budget for next year. Anna will present the new design.")
    window = make_window(real=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000):
        window.load_model(profile=replace(tiny_profile, asr_whisper=demo_whisper))
    view, bar = window.transcript, window.record_bar
    bar.toggle()
    assert bar.recorder.recording, window.messages.text()
    assert "live" in view.title.text() and "recording" in view.state.text()
    qtbot.wait(300)
    player = pulse.play(speech)
    qtbot.waitUntil(lambda: player.poll() is not None, timeout=30_000)
    qtbot.waitUntil(lambda: view.segments.count() >= 2, timeout=20_000)
    live = " ".join(texts(view)).lower()
    assert "meeting" in live and "live" in view.title.text() and not window.controller.clips
    bar.toggle()
    clip = wait_clips(qtbot, window, 1)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=15_000)
    said = clip.transcript.text.lower()
    assert all(w in said for w in ("meeting", "quarterly", "budget", "design")), said
    assert "live" not in view.title.text() and view.segments.count() == len(clip.transcript.segments) >= 1


def test_stored_transcripts_are_kept_apart_by_backend(tmp_path):
    """A transcript made by CTranslate2 is not shown as openai-whisper's (they can word speech differently);
    openai-whisper's keys are those stored before the backend choice existed."""
    from types import SimpleNamespace

    from ltu_desktop.ui.workers import asr_key

    pt = tmp_path / "large-v2.pt"
    pt.write_bytes(b"x" * 10)
    folder = tmp_path / "large-v2-abc"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"x" * 20)

    def key(path, backend):
        return asr_key(SimpleNamespace(profile=SimpleNamespace(asr_whisper=path), transcript_backend=backend))

    assert key(pt, "openai-whisper") == "large-v2.pt:10"
    assert key(folder, "CTranslate2 float32") == "large-v2-abc:20:CTranslate2 float32"
    assert key(folder, "CTranslate2 int8") != key(folder, "CTranslate2 float32")
    assert key(None, "") == ""
