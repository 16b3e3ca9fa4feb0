"""The window driving the real engine on tiny random LTU-AS checkpoints (real loader, real threads)."""

from __future__ import annotations

from conftest import wait_clips, wait_done
from PySide6.QtCore import Qt

from ltu_desktop.models.profiles import profile_from_paths


def loaded_window(make_window, qtbot, tiny_profile, noise_file):
    window = make_window(real=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000) as loaded:
        window.load_model(profile=tiny_profile)
    window.add_files([noise_file])
    clip = wait_clips(qtbot, window, 1, timeout=10_000)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=30_000)
    return window, clip, loaded.args[0]


def test_load_transcribe_and_stream_an_answer_with_the_real_engine(make_window, qtbot, tiny_profile, long_file):
    window, clip, info = loaded_window(make_window, qtbot, tiny_profile, long_file)
    assert info.device == "cpu" and info.precision == "fp32" and info.memory_mb > 0
    assert window.model_status.model.text() == tiny_profile.describe()
    assert window.model_status.details.text().startswith("cpu · fp32 · ")
    assert clip.transcript is not None and window.transcript.segments.count() == 1
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 12}
    tokens = []
    window.controller.engine.worker.token.connect(tokens.append)
    e = wait_done(qtbot, window.controller.ask("What can be inferred from the audio?"), timeout=30_000)
    assert e.state == "done" and e.device == "cpu" and e.precision == "fp32"
    assert e.stats["new_tokens"] >= 1 and e.settings["max_new_tokens"] == 12
    assert "".join(tokens).strip() == e.answer == window.chat.widget(e.id).answer.text()


def test_the_edited_transcript_reaches_the_real_engine_as_its_input(make_window, qtbot, tiny_profile, long_file):
    window, clip, _ = loaded_window(make_window, qtbot, tiny_profile, long_file)
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 4}
    view = window.transcript
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    view.editor.setPlainText("the meeting is on monday at ten")
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    window.waveform.set_window_start(20.0)
    e = wait_done(qtbot, window.controller.ask("When is the meeting?"), timeout=30_000)
    assert e.state == "done" and e.transcript_used == "the meeting is on monday at ten"
    assert e.window == (20.0, 30.0)


def test_a_wrong_checkpoint_is_refused_with_the_loaders_message(make_window, qtbot, tiny_profile, tmp_path):
    bad = tmp_path / "adapter.bin"
    bad.write_bytes(b"this is not a checkpoint")
    profile = profile_from_paths(tiny_profile.llm, bad, tiny_profile.feature_whisper, tiny_profile.asr_whisper)
    window = make_window(real=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelFailed, timeout=60_000) as failed:
        window.load_model(profile=profile)
    assert "adapter.bin" in failed.args[0]
    assert "Could not load LTU-AS" in window.messages.text()
    assert window.model_status.model.text() == "No model loaded"
