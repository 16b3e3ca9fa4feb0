"""Ask both in the app: two models answer one question side by side, survive a restart and export together;
a model that hears sounds but reads no words (LTU) changes the suggestions and says so over the transcript."""

from __future__ import annotations

import json

from conftest import wait_clips, wait_done
from PySide6.QtCore import Qt
from ui_fakes import FakeEngine

from ltu_desktop.models.tiny import make_tiny_ltu_profile
from ltu_desktop.settings import ModelChoice
from ltu_desktop.ui.chat_view import SOUND_SUGGESTIONS, SUGGESTIONS, ComparisonWidget, SideAnswer
from ltu_desktop.ui.compare_models import ModelOption


def _ready_clip(qtbot, window, path):
    window.add_files([path])
    clip = wait_clips(qtbot, window, 1, timeout=10_000)[0]
    qtbot.waitUntil(lambda: clip.transcript_state == "done", timeout=30_000)
    return clip


def test_ask_both_answers_side_by_side_survives_a_restart_and_exports_both(make_window, qtbot, tiny_profile,
                                                                          long_file, tmp_path_factory, tmp_path):
    ltu = make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu"), tiny_profile.llm, tiny_profile.asr_whisper)
    window = make_window(real=True, autoload=False)
    chat = window.chat
    assert not chat.compare_row.isVisible() and not chat.add_model_button.isVisible()  # nothing to compare yet
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000):
        window.load_model(profile=ltu)
    window.controller.set_compare_options([ModelOption("Tiny LTU-AS", profile=tiny_profile),
                                           ModelOption("Same LTU again", profile=ltu)])
    assert [chat.compare_models.itemText(i) for i in range(chat.compare_models.count())] == ["Tiny LTU-AS"]
    clip = _ready_clip(qtbot, window, long_file)
    assert chat.ask_both_button.isEnabled() and "Tiny LTU-AS" in chat.ask_both_button.toolTip()
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 6}
    chat.input.setPlainText("What sounds do you hear?")
    qtbot.mouseClick(chat.ask_both_button, Qt.MouseButton.LeftButton)
    first, second = clip.exchanges[-2:]
    wait_done(qtbot, second, timeout=60_000)
    for e in (first, second):
        assert e.state == "done" and e.stats["new_tokens"] >= 1 and e.settings["compare"] == "shared base"
    assert first.compare_group == second.compare_group != ""
    assert (first.model, second.model) == (ltu.describe(), tiny_profile.describe())
    assert first.window == (0.0, 10.24) and second.window == (0.0, 10.0)  # each hears its own window
    sides = [chat.widget(e.id) for e in (first, second)]
    assert all(isinstance(s, SideAnswer) for s in sides) and isinstance(sides[0].parentWidget(), ComparisonWidget)
    assert [s.header.text() for s in sides] == [ltu.describe(), tiny_profile.describe()]
    for s in sides:
        assert "to first token" in s.status.text() and "tokens/s" in s.status.text()
        assert "whole answer" in s.status.text()
    assert "one base LLM shared" in sides[0].parentWidget().how.text()
    assert window.model_status.model.text().startswith(ltu.describe().split(":")[0])  # LTU stays the loaded one

    window.close()
    again = make_window(autoload=False)  # a restart: the history brings the pair back, side by side
    restored = next(iter(again.controller.clips.values()))
    again.controller.select(restored.id)
    a, b = restored.exchanges
    assert (a.answer, b.answer) == (first.answer, second.answer) and a.compare_group == b.compare_group
    assert isinstance(again.chat.widget(a.id), SideAnswer) and "whole answer" in again.chat.widget(b.id).status.text()
    assert "one base LLM shared" in again.chat.widget(a.id).parentWidget().how.text()

    md, js = tmp_path / "chats.md", tmp_path / "chats.json"
    assert again.history.export(md, None, None) == 2 and again.history.export(js, None, None) == 2
    text = md.read_text()
    assert f"| | **{ltu.describe()}** | **{tiny_profile.describe()}** |" in text
    assert "| First token |" in text and "| Whole answer |" in text and "one base LLM shared" in text
    rows = json.loads(js.read_text())
    assert [r["model"] for r in rows] == [ltu.describe(), tiny_profile.describe()]
    assert rows[0]["compare_group"] == rows[1]["compare_group"] and all(r["first_token_s"] for r in rows)


def test_regenerate_asks_the_pair_again_and_a_corrected_side_shows_in_the_export(
        make_window, qtbot, tiny_profile, long_file, tmp_path_factory, tmp_path):
    """A comparison is regenerated as a pair (same question, the loaded model and the same other one, side by
    side), also after a restart; a correction of one side is in the side-by-side export."""
    ltu = make_tiny_ltu_profile(tmp_path_factory.mktemp("ltu"), tiny_profile.llm, tiny_profile.asr_whisper)
    window = make_window(real=True, autoload=False)
    chat, other = window.chat, ModelOption("Tiny LTU-AS", profile=tiny_profile)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000):
        window.load_model(profile=ltu)
    window.controller.set_compare_options([other])
    clip = _ready_clip(qtbot, window, long_file)
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 4}
    first, second = window.controller.ask_both("What sounds do you hear?")
    comparison = chat.widget(first.id).parentWidget()
    assert not comparison.regenerate_button.isVisible()  # not while they answer
    wait_done(qtbot, second, timeout=60_000)
    assert comparison.regenerate_button.isVisible() and not chat.widget(first.id).regenerate_button.isVisible()

    qtbot.mouseClick(comparison.regenerate_button, Qt.MouseButton.LeftButton)
    a, b = clip.exchanges[-2:]
    wait_done(qtbot, b, timeout=60_000)
    assert len(clip.exchanges) == 4 and a.compare_group == b.compare_group not in ("", first.compare_group)
    assert (a.model, b.model) == (first.model, second.model) and a.question == first.question
    assert a.regenerated and b.regenerated and a.state == b.state == "done"
    assert isinstance(chat.widget(b.id).parentWidget(), ComparisonWidget)
    assert all("regenerated" in chat.widget(e.id).note.text() for e in (a, b))

    w = chat.widget(second.id)
    qtbot.mouseClick(w.train_button, Qt.MouseButton.LeftButton)
    w.editor.setPlainText("Someone speaks over a hum.")
    qtbot.keyClick(w.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    md, js = tmp_path / "chats.md", tmp_path / "chats.json"
    assert window.history.export(md, None, None) == 4 and window.history.export(js, None, None) == 4
    text = md.read_text()
    assert "| Your correction | – | Someone speaks over a hum. |" in text and "| Used for training | – | yes |" in text
    rows = json.loads(js.read_text())
    assert rows[1]["correction"] == "Someone speaks over a hum." and rows[1]["pred"] == second.answer
    assert rows[1]["for_training"] and rows[0]["correction"] is None and not rows[0]["for_training"]

    window.close()  # after a restart the pair knows its other model
    again = make_window(autoload=False)
    restored = next(iter(again.controller.clips.values()))
    again.controller.select(restored.id)
    assert restored.exchanges[1].settings["compare_with"] == other.key
    again.controller.regenerate(restored.exchanges[0].id)  # no model loaded here: it says what to do instead
    assert "cannot answer again beside the loaded model" in again.messages.text()
    assert len(restored.exchanges) == 4


def test_stop_ends_both_answers(make_window, qtbot, tone_file):
    """Stop during the first model's answer keeps its text, and the second model never starts."""
    window = make_window(engine=FakeEngine(pieces=["word "] * 200, delay=0.02))
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    other = ModelChoice("files", llm="/nowhere/llm", adapter="/nowhere/adapter.bin")  # never loaded: Stop comes first
    window.controller.set_compare_options([ModelOption("Other model", other)])
    _ready_clip(qtbot, window, tone_file)
    pair = window.controller.ask_both("Describe the sound.")
    assert pair is not None
    first, second = pair
    qtbot.waitUntil(lambda: first.state == "streaming", timeout=5000)
    assert window.chat.stop_button.isEnabled()
    qtbot.mouseClick(window.chat.stop_button, Qt.MouseButton.LeftButton)
    wait_done(qtbot, second, timeout=5000)
    assert first.state == "stopped" and first.answer.startswith("word")
    assert second.state == "stopped", second.error
    assert second.answer == "" and not window.chat.stop_button.isEnabled()


def test_a_second_model_that_cannot_load_fails_alone(make_window, qtbot, tone_file):
    window = make_window()
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    other = ModelChoice("files", llm="/nowhere/llm", adapter="/nowhere/adapter.bin")
    window.controller.set_compare_options([ModelOption("Missing model", other)])
    _ready_clip(qtbot, window, tone_file)
    first, second = window.controller.ask_both("Describe the sound.")
    wait_done(qtbot, second)
    assert first.state == "done" and first.answer == "The speaker sounds calm."
    assert second.state == "failed" and "/nowhere/llm" in second.error


def test_one_model_alone_offers_a_way_to_add_a_second_not_an_empty_box(make_window, qtbot, tone_file,
                                                                        monkeypatch):
    from ltu_desktop.ui.model_dialog import ModelDialog

    window = make_window()
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    window.controller.set_compare_options([])
    _ready_clip(qtbot, window, tone_file)
    chat = window.chat
    assert chat.send_button.isEnabled() and not chat.compare_row.isVisible()
    assert chat.add_model_button.isVisible() and chat.add_model_button.text() == "Add a second model to compare answers…"
    opened = []
    monkeypatch.setattr(ModelDialog, "exec", lambda self: opened.append(self) or 0)
    qtbot.mouseClick(chat.add_model_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1 and chat.add_model_button.isVisible()  # the chooser, where models are got or chosen

    window.controller.set_compare_options([ModelOption("Other model", ModelChoice("files", llm="/x", adapter="/y"))])
    assert chat.compare_row.isVisible() and not chat.add_model_button.isVisible()
    assert chat.ask_both_button.isEnabled() and chat.compare_models.currentText() == "Other model"


def test_a_model_that_hears_but_does_not_read_says_so_and_suggests_sound_questions(make_window, qtbot):
    ltu_like = FakeEngine(label="LTU-like")
    ltu_like.reads_transcript = False
    engines = iter([ltu_like, FakeEngine(label="LTU-AS-like")])
    window = make_window(loader=lambda request, progress: next(engines), autoload=False)
    chips = lambda: tuple(b.text() for b in window.chat.suggestion_buttons)  # noqa: E731
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.load_model()
    note = window.transcript.unread
    assert chips() == SOUND_SUGGESTIONS and note.isVisible() and "does not read the transcript" in note.text()
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.load_model()
    assert chips() == SUGGESTIONS and not note.isVisible()


def test_models_that_do_not_fit_together_take_turns(make_window, qtbot, tiny_profile, long_file, tmp_path,
                                                    monkeypatch):
    """Two bases and room for one: the loaded model answers, makes way for the other, and is loaded again."""
    from ltu_desktop.engine import precision
    from ltu_desktop.models.tiny import make_llm

    ltu = make_tiny_ltu_profile(tmp_path / "ltu", make_llm(tmp_path / "llm2", seed=7), tiny_profile.asr_whisper)
    window = make_window(real=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=60_000):
        window.load_model(profile=tiny_profile)
    one = precision.estimate(precision.plan("cpu", "fp32"), {"hidden_size": 64, "intermediate_size": 128,
                             "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                             "vocab_size": 400}, [tiny_profile.asr_whisper], 0, available=1e9).total_mb
    # Free memory as the comparison is planned leaves no room beside the loaded model; once it is released, there is.
    free = iter([one * 0.9])
    monkeypatch.setattr(precision, "available_mb", lambda device: next(free, 1e9))
    window.controller.set_compare_options([ModelOption("Tiny LTU", profile=ltu)])
    clip = _ready_clip(qtbot, window, long_file)
    window.controller.generation = {"temperature": 0.0, "max_new_tokens": 4}
    first, second = window.controller.ask_both("What sounds do you hear?")
    wait_done(qtbot, second, timeout=60_000)
    assert (first.state, second.state) == ("done", "done"), second.error
    assert second.settings["compare"] == "one at a time"
    assert "take turns" in window.chat.widget(first.id).parentWidget().how.text()
    worker = window.controller.engine.worker
    qtbot.waitUntil(lambda: worker.engine is not None and not worker.busy(), timeout=30_000)
    assert worker.engine.profile == tiny_profile  # the chosen model is back
    again = wait_done(qtbot, window.controller.ask("And now?"), timeout=30_000)
    assert again.state == "done" and again.model == tiny_profile.describe() and clip.exchanges[-1] is again


def test_own_files_that_loaded_stay_offered_after_another_model_is_chosen(make_window, qtbot, tmp_path):
    from ltu_desktop.settings import load_settings

    adapter = tmp_path / "ltu_ori_paper.bin"
    adapter.write_bytes(b"x")
    own = ModelChoice("files", str(tmp_path), str(adapter), "", "")
    window = make_window(persist=True, autoload=False)
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.controller.load_model(own)
    assert [window.chat.compare_models.itemText(i) for i in range(window.chat.compare_models.count())] == [
        "Demo (reads the transcript only)"]
    with qtbot.waitSignal(window.controller.modelLoaded, timeout=5000):
        window.controller.load_model(ModelChoice())
    assert window.chat.compare_models.itemText(0) == "Own model (ltu_ori_paper.bin)"
    assert load_settings().recent_models == [own]


def test_downloaded_catalog_profiles_are_offered_and_resolved_on_the_worker(tmp_path, monkeypatch, tiny_profile):
    """Only profiles whose files are all there; the engine Profile is made later, from the catalog's name."""
    import shutil

    from ltu_desktop.ui.compare_models import DEMO_OPTION, usable_models

    models = tmp_path / "models"
    shutil.copytree(tiny_profile.llm, models / "base")
    shutil.copy(make_tiny_ltu_profile(tmp_path / "ltu", tiny_profile.llm, tiny_profile.asr_whisper).adapter,
                models / "ltu.bin")
    entry = 'url = "https://example.invalid/{0}"\napprox_size = 1\ndescription = "{0}"\n'
    (tmp_path / "catalog.toml").write_text(
        'default_profile = "here"\n'
        f'[files.base]\npath = "base"\nkind = "llm-zip"\n{entry.format("base")}'
        f'[files.ltu]\npath = "ltu.bin"\nkind = "adapter"\nfeatures = "fp16"\n{entry.format("ltu")}'
        f'[files.gone]\npath = "gone.bin"\nkind = "adapter"\nfeatures = "fp16"\n{entry.format("gone")}'
        '[profiles.here]\nlabel = "LTU here"\nfamily = "ltu"\nllm = "base"\nadapter = "ltu"\n'
        '[profiles.away]\nlabel = "LTU away"\nfamily = "ltu"\nllm = "base"\nadapter = "gone"\n')
    monkeypatch.setenv("LTU_DESKTOP_CATALOG", str(tmp_path / "catalog.toml"))
    monkeypatch.setenv("LTU_DESKTOP_MODELS", str(models))
    options = usable_models([ModelChoice("files", str(tmp_path / "missing"), str(tmp_path / "missing.bin"))])
    assert [o.label for o in options] == [DEMO_OPTION, "LTU here"]
    profile = options[1].resolve(lambda *_: None)
    assert (profile.kind, profile.adapter) == ("ltu", models / "ltu.bin")
