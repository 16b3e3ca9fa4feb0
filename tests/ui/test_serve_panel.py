"""The app's "Serve on localhost" switch: the loaded model answers other programs, and their requests show."""

from __future__ import annotations

import base64
import io
import socket

import httpx
import numpy as np
import soundfile as sf
from ui_fakes import FakeEngine


class Fake(FakeEngine):
    reads_transcript, window_seconds = True, 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wav() -> str:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16000, dtype=np.float32), 16000, format="WAV")
    return base64.b64encode(buf.getvalue()).decode()


def test_switch_serves_the_loaded_model_and_lists_requests(make_window, qtbot):
    window = make_window(engine=Fake(pieces=("It ", "is ", "quiet."), delay=0.2))
    qtbot.waitUntil(lambda: window.controller.model is not None, timeout=5000)
    panel = window.serve_panel
    model_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Model")
    assert panel.action in model_menu.actions()
    panel.port.setValue(_free_port())
    panel.action.trigger()
    assert panel.serving and panel.switch.isChecked() and panel.isVisible()
    assert panel.url in panel.address.text() and "fake" in panel.address.text()
    assert '"model": "fake"' in panel.example.toPlainText() and panel.url in panel.example.toPlainText()
    panel.copy.click()
    from PySide6.QtGui import QGuiApplication

    assert QGuiApplication.clipboard().text() == panel.example.toPlainText()

    body = {"model": "fake", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Is it loud?"},
        {"type": "input_audio", "input_audio": {"data": _wav(), "format": "wav"}}]}]}
    with httpx.stream("POST", f"{panel.url}/v1/chat/completions", json={**body, "stream": True}, timeout=30) as r:
        lines = r.iter_lines()
        next(lines)
        qtbot.waitUntil(lambda: panel.log.count() == 1, timeout=5000)
        assert "…  POST /v1/chat/completions" in panel.log.item(0).text()  # shown as it arrives
        assert [ln for ln in lines if ln][-1] == "data: [DONE]"
    r = httpx.post(f"{panel.url}/v1/chat/completions", json=body, timeout=30)
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "It is quiet."
    qtbot.waitUntil(lambda: panel.log.count() == 2 and "…" not in panel.log.item(1).text(), timeout=5000)
    for row in (panel.log.item(0).text(), panel.log.item(1).text()):
        assert "  200  POST /v1/chat/completions" in row and "Is it loud?" in row

    url = panel.url
    panel.switch.click()
    assert not panel.serving and not panel.action.isChecked()
    try:
        httpx.get(f"{url}/health", timeout=2)
        reachable = True
    except httpx.TransportError:
        reachable = False
    assert not reachable


def test_a_taken_port_is_said_and_the_switch_stays_off(make_window, qtbot):
    window = make_window(engine=Fake())
    panel = window.serve_panel
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        panel.port.setValue(taken.getsockname()[1])
        panel.switch.click()
        assert not panel.serving and not panel.switch.isChecked()
        assert "Could not listen" in panel.address.text()


def test_without_the_serve_extra_the_switch_says_how_to_install_it(make_window, monkeypatch):
    from ltu_desktop.ui import serve_panel

    monkeypatch.setattr(serve_panel, "serve_available", lambda: False)
    panel = make_window(engine=Fake()).serve_panel
    assert not panel.switch.isEnabled() and "pip install 'ltu-desktop[serve]'" in panel.address.text()
    panel.action.trigger()
    assert not panel.serving and not panel.action.isChecked() and panel.isVisible()
