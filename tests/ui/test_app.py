"""Starting the app: --screenshot end to end, argument routing, and no torch in the GUI process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtGui import QImage
from ui_fakes import FakeEngine, loader_for

import ltu_desktop.ui.workers as workers
from ltu_desktop.ui.app import run_gui


@pytest.fixture
def fake_models(monkeypatch, config_dir):
    engine = FakeEngine(pieces=["A man ", "talks about ", "a meeting."], delay=0.02)
    monkeypatch.setattr(workers, "load_engine", loader_for(engine))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    return engine


def test_screenshot_mode_opens_asks_waits_and_saves_the_window(qtbot, fake_models, tone_file, tmp_path):
    out = tmp_path / "shot" / "window.png"
    code = run_gui(["--screenshot", str(out), "--clip", str(tone_file), "--question", "What is said?",
                    "--size", "900x600", "--theme", "dark"])
    assert code == 0
    image = QImage(str(out))
    assert (image.width(), image.height()) == (900, 600)
    colors = {image.pixel(x, y) for x in range(0, 900, 37) for y in range(0, 600, 23)}
    assert len(colors) > 10, "the picture should show the window, not a blank rectangle"
    assert [c[1] for c in fake_models.calls if c[0] == "answer"] == ["What is said?"]
    assert not (tmp_path / "config" / "settings.json").exists(), "a screenshot run must not change settings"


def test_screenshot_mode_reports_a_bad_clip_and_still_saves(qtbot, fake_models, corrupt_file, tmp_path):
    out = tmp_path / "bad.png"
    assert run_gui(["--screenshot", str(out), "--clip", str(corrupt_file), "--question", "?", "--size", "640x480"]) == 1
    assert out.exists()


def test_gui_modules_do_not_import_torch():
    code = (
        "import sys; import ltu_desktop.ui.app, ltu_desktop.ui.main_window, ltu_desktop.ui.workers; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_main_routes_gui_options_to_the_gui_and_subcommands_to_the_cli(monkeypatch, tone_file):
    import ltu_desktop.cli as cli
    import ltu_desktop.ui.app as app

    calls = []
    monkeypatch.setattr(app, "run_gui", lambda argv: calls.append(argv) or 0)
    for argv in ([], ["gui", "--theme", "dark"], ["--screenshot", "x.png"], [str(tone_file)]):
        assert cli.main(argv) == 0
    assert calls == [[], ["--theme", "dark"], ["--screenshot", "x.png"], [str(tone_file)]]
    assert not cli._is_gui(["ask", "x.wav"]) and not cli._is_gui(["--help"])


def test_the_engine_worker_frees_its_thread_on_close(qtbot):
    thread = workers.EngineThread(loader_for(FakeEngine()))
    thread.worker.submit(workers.LoadRequest(None))
    qtbot.waitUntil(lambda: thread.worker._engine is not None, timeout=5000)
    assert thread.close(5000)
    assert thread.worker._engine is None and not thread.thread.isRunning()


def test_the_binding_check_names_the_fix_and_costs_nothing(qapp):
    from ltu_desktop.ui.app import binding_problem

    before = sys.getrefcount(True)
    problem = binding_problem()
    assert sys.getrefcount(True) >= before
    assert problem is None or "PySide6-Essentials<6.12" in problem
