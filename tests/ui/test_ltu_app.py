"""The app with a tiny LTU loaded through the real engine: the adapter picks the family, the window is 10.24 s."""

from __future__ import annotations

from conftest import wait_clips, wait_done

from ltu_desktop.models.tiny import make_tiny_ltu_profile


def test_ltu_hears_10_24_s_and_answers(make_window, qtbot, tiny_profile, long_file,
                                                           tmp_path_factory):
    ltu = make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu"), tiny_profile.llm, tiny_profile.asr_whisper)
    window = make_window(real=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000) as loaded:
        window.load_model(profile=ltu)
    info = loaded.args[0]
    assert info.window_seconds == 10.24 and info.hears_audio
    window.add_files([long_file])
    clip = wait_clips(qtbot, window, 1, timeout=10_000)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=30_000)
    assert window.waveform.window_length() == 10.24
    window.waveform.set_window_start(30.0)  # clamped so that the whole 10.24 s fits in the 32 s clip
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 6}
    e = wait_done(qtbot, window.controller.ask("What is making this sound?"), timeout=30_000)
    assert e.state == "done" and e.window == (21.76, 32.0) and e.stats["new_tokens"] >= 1
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000):
        window.load_model(profile=tiny_profile)
    assert window.waveform.window_length() == 10.0


def test_the_model_dialog_takes_ltu_files_without_a_feature_whisper(qtbot, tiny_profile, tmp_path_factory):
    """The adapter says it is LTU: no feature Whisper is asked for, and one given is refused by name."""
    from ltu_desktop.settings import ModelChoice
    from ltu_desktop.ui.model_dialog import ModelDialog
    from ltu_desktop.ui.workers import profile_for

    ltu = make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu-dialog"), tiny_profile.llm, tiny_profile.asr_whisper)
    choice = ModelChoice("files", llm=str(ltu.llm), adapter=str(ltu.adapter), feature_whisper="", asr_whisper="")
    dialog = ModelDialog(choice, "cpu", "auto")
    qtbot.addWidget(dialog)
    assert dialog.problems() == {}
    assert profile_for(dialog.choice(), lambda *_: None).kind == "ltu"
    dialog.rows["feature_whisper"].edit.setText(str(tiny_profile.feature_whisper))
    assert "own encoder" in dialog.problems()["feature_whisper"]
