""""Serve on localhost": the local OpenAI-compatible API over the model the app has loaded.

The server shares the app's engine (whatever is loaded now; none while a model loads, which the API
answers with 503) and serialises its own requests on one thread; the engine's lock keeps them from
overlapping the app's own questions. uvicorn runs on its own thread, so the window never waits on it."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
INSTALL_HINT = "The local API needs the serve extra: pip install 'ltu-desktop[serve]' (FastAPI, uvicorn), then restart."
MAX_LOG = 500


def serve_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("fastapi", "uvicorn", "multipart"))


def curl_example(url: str, model: str) -> str:
    """A request about clip.wav; the JSON goes through a file, as base64 audio outgrows a command line."""
    return (f"printf '{{\"model\": \"{model}\", \"messages\": [{{\"role\": \"user\", \"content\": "
            "[{\"type\": \"text\", \"text\": \"What happens in this recording?\"}, {\"type\": \"input_audio\", "
            "\"input_audio\": {\"format\": \"wav\", \"data\": \"%s\"}}]}]}' \"$(base64 -w0 clip.wav)\" > ask.json\n"
            f"curl {url}/v1/chat/completions -H 'Content-Type: application/json' -d @ask.json")


class ServePanel(QDockWidget):
    """The switch, the address with a copyable example, and the requests as they come."""

    served = Signal(object)  # ltu_desktop.server.Served, from the server's thread
    stateChanged = Signal(bool)  # serving or not

    def __init__(self, engine: Callable[[], object], parent: QWidget | None = None) -> None:
        super().__init__("Local API server", parent)
        self.setObjectName("serve-panel")
        self._engine = engine
        self.server = None
        self._rows: dict[int, tuple[QListWidgetItem, str]] = {}  # requests still running: row, arrival time
        body = QWidget()
        layout = QVBoxLayout(body)
        row = QHBoxLayout()
        self.switch = QCheckBox("Serve on localhost")
        self.switch.setToolTip("An OpenAI-compatible API on this computer for your other tools")
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(DEFAULT_PORT)
        self.port.setPrefix("port ")
        self.port.setAccessibleName("Port")
        row.addWidget(self.switch)
        row.addWidget(self.port)
        row.addStretch(1)
        layout.addLayout(row)
        self.address = QLabel()
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address.setWordWrap(True)
        layout.addWidget(self.address)
        self.example = QPlainTextEdit()
        self.example.setReadOnly(True)
        self.example.setMaximumHeight(90)
        self.example.setAccessibleName("Example request")
        self.copy = QPushButton("Copy example")
        self.copy.clicked.connect(self.copy_example)
        layout.addWidget(self.example)
        layout.addWidget(self.copy, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(QLabel("Requests"))
        self.log = QListWidget()
        self.log.setAccessibleName("Requests served")
        layout.addWidget(self.log, 1)
        self.setWidget(body)

        self.action = QAction("Serve on &localhost", self, checkable=True)
        self.action.setToolTip("Serve the loaded model through an OpenAI-compatible API on 127.0.0.1")
        self.action.toggled.connect(self.set_serving)
        self.switch.toggled.connect(self.set_serving)
        self.served.connect(self._add_row, Qt.ConnectionType.QueuedConnection)
        if not serve_available():
            for w in (self.switch, self.port, self.copy):
                w.setEnabled(False)
            self.action.setToolTip(INSTALL_HINT)
        self._show_state(INSTALL_HINT if not serve_available() else "")

    @classmethod
    def install(cls, window: QMainWindow, menu: QMenu, engine: Callable[[], object]) -> ServePanel:
        """The dock (hidden until wanted) and the Model menu's switch."""
        panel = cls(engine, window)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel)
        panel.hide()
        menu.addSeparator()
        menu.addAction(panel.action)
        return panel

    @property
    def serving(self) -> bool:
        return self.server is not None

    @property
    def url(self) -> str:
        return self.server.url if self.server is not None else f"http://{HOST}:{self.port.value()}"

    def set_serving(self, on: bool) -> None:
        if on == self.serving:
            self._sync(on)
            return
        if on:
            self.show()
            if not serve_available():
                self._sync(False)
                self._show_state(INSTALL_HINT)
                return
            from ..server import Server, ServeError, create_app

            try:
                app = create_app(self._engine, on_request=self.served.emit)
                self.server = Server(app, HOST, self.port.value()).start()
            except ServeError as exc:
                self.server = None
                self._sync(False)
                self._show_state(str(exc))
                return
        else:
            server, self.server = self.server, None
            server.stop()
        self._sync(on)
        self._show_state()
        self.stateChanged.emit(on)

    def stop(self) -> None:
        self.set_serving(False)

    def model_changed(self) -> None:
        self._show_state()

    def copy_example(self) -> None:
        QGuiApplication.clipboard().setText(self.example.toPlainText())

    def _sync(self, on: bool) -> None:
        for toggle in (self.action, self.switch):
            toggle.blockSignals(True)
            toggle.setChecked(on)
            toggle.blockSignals(False)
        self.port.setEnabled(not on and serve_available())

    def _show_state(self, problem: str = "") -> None:
        engine = self._engine()
        model = engine.profile.name if engine is not None else "demo"
        if problem:
            self.address.setText(problem)
        elif self.serving:
            loaded = f"model “{model}”" if engine is not None else "no model loaded yet (requests get 503)"
            self.address.setText(f"Serving {self.url}/v1 on this computer only · {loaded}")
        else:
            self.address.setText("Not serving. Turn it on to use the loaded model from other programs "
                                 "(OpenAI-compatible API).")
        self.example.setPlainText(curl_example(self.url, model))

    def _add_row(self, served) -> None:
        """A row when a request arrives, completed in place when it ends."""
        item, stamp = self._rows.pop(served.id, (None, time.strftime("%H:%M:%S")))
        if item is None:
            item = QListWidgetItem()
            self.log.addItem(item)
            while self.log.count() > MAX_LOG:
                self.log.takeItem(0)
            self.log.scrollToBottom()
        if not served.done:
            self._rows[served.id] = (item, stamp)
            item.setText(f"{stamp}  …  {served.method} {served.path}")
            return
        what = f" · {served.summary}" if served.summary else ""
        left = " · client left" if served.left else ""
        item.setText(f"{stamp}  {served.status}  {served.method} {served.path}  {served.seconds:.2f} s{left}{what}")
