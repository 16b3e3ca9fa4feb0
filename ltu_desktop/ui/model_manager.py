"""The model dialog's "Get models" tab: the released files (present, missing, size), downloads with progress
that resume, verify, remove, and the person's own files; the same Models API as `ltu-desktop models`.

Every call to Models runs on a worker thread (hashing or fetching gigabytes must not freeze the window), one
job at a time; its signals reach the widgets queued. A plain daemon thread, not a QThread: closing the dialog
mid-download must neither wait for the download nor abort the app. A download is cancelled through a
threading.Event and resumes from its `.part` file next time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)


class ModelsWorker(QObject):
    """Runs one Models call at a time; `status` after each, so the list always shows the folder as it is."""

    progress = Signal(str, float)  # stage, fraction (negative: unknown)
    status = Signal(object, object)  # list[FileStatus], {profile name: missing file names}
    finished = Signal(str)  # what was done, for the person
    failed = Signal(str)

    def __init__(self, models_factory: Callable[[], object] | None = None) -> None:
        super().__init__()
        self._factory = models_factory
        self._models = None
        self.cancel = threading.Event()

    def submit(self, job: Callable[[object], str | None]) -> None:
        self.cancel.clear()
        threading.Thread(target=self._do, args=(job,), name="models", daemon=True).start()

    def models(self):
        if self._models is None:
            from ..models.catalog import Models

            self._models = self._factory() if self._factory else Models()
        return self._models

    def report(self, stage: str, p) -> None:
        self.progress.emit(stage, p.fraction if p.fraction is not None else -1.0)

    def _do(self, job) -> None:
        try:
            self._run(job)
        except RuntimeError:  # the dialog was closed meanwhile: nobody is left to tell
            pass

    def _run(self, job) -> None:
        try:
            message = job(self) if job is not None else None
            if message:
                self.finished.emit(message)
        except Exception as exc:  # CatalogError, DownloadError, and anything a bad file throws
            self.failed.emit(str(exc) or type(exc).__name__)
        try:
            models = self.models()
            ready = {n: [e.name for e in models.missing(n)] for n, p in models.catalog.profiles.items()
                     if not p.builtin}
            self.status.emit(models.status(), ready)
        except Exception as exc:
            self.failed.emit(str(exc))


def _size(n: int | None) -> str:
    from ..models.download import human_size

    return human_size(n) if n else "–"


class ModelManager(QWidget):
    """`useProfile(paths)` when the person picks a complete profile: {"llm": .., "adapter": .., ...}."""

    useProfile = Signal(dict)

    def __init__(self, models_factory: Callable[[], object] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker = ModelsWorker(models_factory)
        self.busy = False
        self.files = QTreeWidget()
        self.files.setAccessibleName("Model files")
        self.files.setHeaderLabels(["File", "Kind", "Size", "State"])
        self.files.setRootIsDecorated(False)
        self.files.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.files.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.files.itemClicked.connect(lambda *_: self._target("file"))
        self.files.currentItemChanged.connect(lambda *_: self._enable())
        self.profiles = QTreeWidget()
        self.profiles.setAccessibleName("Profiles")
        self.profiles.setHeaderLabels(["Profile", "State"])
        self.profiles.setRootIsDecorated(False)
        self.profiles.setMaximumHeight(110)
        self.profiles.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.profiles.itemClicked.connect(lambda *_: self._target("profile"))
        self.profiles.currentItemChanged.connect(lambda *_: self._enable())
        self.target = "file"  # which list the person chose from last: Download acts on that one
        self.stage = QLabel()
        self.stage.setObjectName("muted")
        self.stage.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Download progress")
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(12)
        self.bar.hide()
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for key, text, tip, slot in (
            ("download", "Download", "Download the selected file, or every missing file of the selected profile "
                                     "(an interrupted download resumes)", self.download),
            ("verify", "Verify", "Check the selected file against its published or first-recorded SHA-256",
             self.verify),
            ("remove", "Remove", "Delete the selected downloaded file (your own files are only forgotten)",
             self.remove),
            ("add", "Add my file…", "Register a file you already have, after checking it", self.add),
            ("cancel", "Cancel", "Stop the download; it resumes next time", self.cancel),
            ("use", "Use this profile", "Fill in the model files of the selected complete profile", self.use),
        ):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            row.addWidget(b)
            self.buttons[key] = b
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>Released LTU-AS and LTU files</b> (the same as <tt>ltu-desktop models</tt>)"))
        layout.addWidget(self.files, 1)
        layout.addWidget(QLabel("<b>Profiles</b>: files that work together"))
        layout.addWidget(self.profiles)
        layout.addLayout(row)
        layout.addWidget(self.bar)
        layout.addWidget(self.stage)
        w = self.worker
        w.progress.connect(self._progress)
        w.status.connect(self._status)
        w.finished.connect(lambda text: self._done(text, False))
        w.failed.connect(lambda text: self._done(text, True))
        self._profiles_state: dict[str, list[str]] = {}
        self.refresh()

    # --- actions ---------------------------------------------------------------------------
    def refresh(self) -> None:
        self._start(None, "Reading the models folder…")

    def selected(self) -> str | None:
        item = self.files.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def selected_profile(self) -> str | None:
        item = self.profiles.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _target(self, which: str) -> None:
        self.target = which
        self._enable()

    def download(self) -> None:
        profile = self.selected_profile() if self.target == "profile" else None
        name = None if profile else self.selected()

        def job(w: ModelsWorker) -> str:
            models = w.models()
            names = [e.name for e in models.missing(profile)] if profile else [name]
            for n in names:
                models.download(n, progress=w.report, cancel=w.cancel)
            return f"Downloaded {', '.join(names)}." if names else "Nothing to download."

        if name or profile:
            self._start(job, f"Downloading {profile or name}…")

    def verify(self) -> None:
        name = self.selected()

        def job(w: ModelsWorker) -> str:
            results = w.models().verify(name, progress=w.report, cancel=w.cancel)
            return "; ".join(f"{r.name}: {'OK, ' if r.ok else 'FAILED, ' if r.ok is False else ''}{r.message}"
                             for r in results)

        if name:
            self._start(job, f"Checking {name}…")

    def remove(self) -> None:
        name = self.selected()
        if name:
            self._start(lambda w: w.models().remove(name) or f"Removed {name}.", f"Removing {name}…")

    def add(self, path: str | None = None, kind: str | None = None) -> None:
        """Ask for a file (or a folder, for a base LLM) and its kind; the strict loader checks it first."""
        from ..models.catalog import OWN_KINDS

        if kind is None:
            kind, ok = QInputDialog.getItem(self, "Add my file", "What is it?", list(OWN_KINDS), 1, False)
            if not ok:
                return
        if path is None:
            path = (QFileDialog.getExistingDirectory(self, "Base LLM folder") if kind == "llm"
                    else QFileDialog.getOpenFileName(self, f"Choose the {kind}")[0])
            if not path:
                return

        def job(w: ModelsWorker) -> str:
            from ..engine.checkpoints import validate_file

            entry = w.models().add(path, kind, validate=validate_file, progress=w.report)
            return f"Registered {entry.name} ({entry.kind}) at {entry.path}."

        self._start(job, f"Checking {path}…")

    def cancel(self) -> None:
        self.worker.cancel.set()

    def use(self) -> None:
        profile = self.selected_profile()
        if not profile or self._profiles_state.get(profile):
            return

        def job(w: ModelsWorker) -> str:
            models = w.models()
            spec = models.profile_spec(profile)
            paths = {role: str(models.path_of(getattr(spec, role))) for role in
                     ("llm", "adapter", "feature_whisper", "asr_whisper") if getattr(spec, role)}
            self.useProfile.emit(paths)
            return f"The files of {spec.label} are filled in on the Model tab."

        self._start(job, "")

    # --- worker signals ----------------------------------------------------------------------
    def _start(self, job, text: str) -> None:
        self.busy = True
        self.stage.setText(text)
        self.bar.setVisible(job is not None)
        self.bar.setRange(0, 0)
        self._enable()
        self.worker.submit(job)

    def _progress(self, stage: str, fraction: float) -> None:
        self.stage.setText(stage)
        if fraction < 0:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))

    def _done(self, text: str, error: bool) -> None:
        self.stage.setObjectName("error" if error else "muted")
        self.stage.style().unpolish(self.stage)
        self.stage.style().polish(self.stage)
        self.stage.setText(text)

    def _status(self, statuses, profiles: dict) -> None:
        if self.stage.text().startswith("Reading the models folder"):
            present = sum(s.present for s in statuses)
            self.stage.setText(f"{present} of {len(statuses)} files present in {self.worker.models().root}")
        self.busy = False
        self.bar.hide()
        chosen = self.selected()
        self.files.clear()
        for s in statuses:
            e = s.entry
            state = ("present" if s.present else f"partial, {_size(s.partial_bytes)} (resumes)" if s.partial_bytes
                     else "missing")
            size = _size(s.size) if s.present else f"~{_size(e.approx_size)}" if e.approx_size else "–"
            item = QTreeWidgetItem([e.name + (" (yours)" if e.own else ""), e.kind, size, state])
            item.setData(0, Qt.ItemDataRole.UserRole, e.name)
            item.setData(0, Qt.ItemDataRole.UserRole + 1, s.present)
            item.setToolTip(0, f"{e.description}\n{s.path}")
            self.files.addTopLevelItem(item)
            if e.name == chosen:
                self.files.setCurrentItem(item)
        chosen = self.selected_profile()
        self.profiles.clear()
        self._profiles_state = profiles
        for name, missing in profiles.items():
            item = QTreeWidgetItem([name, "ready" if not missing else "needs " + ", ".join(missing)])
            item.setToolTip(1, item.text(1))
            item.setData(0, Qt.ItemDataRole.UserRole, name)
            self.profiles.addTopLevelItem(item)
            if name == chosen:
                self.profiles.setCurrentItem(item)
        self._enable()

    def _enable(self) -> None:
        item = self.files.currentItem()
        present = bool(item and item.data(0, Qt.ItemDataRole.UserRole + 1))
        profile = self.selected_profile()
        b = self.buttons
        if self.target == "profile":
            wanted = bool(profile and self._profiles_state.get(profile))
        else:
            wanted = item is not None and not present
        b["download"].setEnabled(not self.busy and wanted)
        b["verify"].setEnabled(not self.busy and present)
        b["remove"].setEnabled(not self.busy and item is not None)
        b["add"].setEnabled(not self.busy)
        b["cancel"].setEnabled(self.busy)
        b["use"].setEnabled(not self.busy and profile is not None and not self._profiles_state.get(profile))

    def close_worker(self) -> None:
        """A running download stops (its .part stays for the next time)."""
        self.worker.cancel.set()
