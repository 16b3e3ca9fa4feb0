"""The list of this session's clips; also where files are dropped (the main window forwards its drops)."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QStyle, QWidget

from .waveform_view import clock


def local_files(mime: QMimeData) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class ClipList(QListWidget):
    """One row per clip: name and duration; `filesDropped(paths)` on a drop of local files."""

    filesDropped = Signal(list)
    clipSelected = Signal(object)  # clip id or None
    removeRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Clips")
        self.setToolTip("Clips of this session. Drop audio files here.")
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setUniformItemSizes(True)
        self.currentItemChanged.connect(
            lambda item, _prev: self.clipSelected.emit(item.data(Qt.ItemDataRole.UserRole) if item else None)
        )

    def add_clip(self, clip_id: int, name: str, duration: float, recorded: bool) -> None:
        icon = self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaVolume if recorded else QStyle.StandardPixmap.SP_FileIcon
        )
        item = QListWidgetItem(icon, f"{name}\n{clock(duration)}")
        item.setData(Qt.ItemDataRole.UserRole, clip_id)
        item.setToolTip(name)
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{name}, {clock(duration)}")
        self.addItem(item)
        self.setCurrentItem(item)

    def remove_current(self) -> int | None:
        item = self.currentItem()
        if item is None:
            return None
        clip_id = item.data(Qt.ItemDataRole.UserRole)
        self.takeItem(self.row(item))
        return clip_id

    def select(self, clip_id: int) -> None:
        for i in range(self.count()):
            if self.item(i).data(Qt.ItemDataRole.UserRole) == clip_id:
                self.setCurrentRow(i)
                return

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Delete and self.currentItem() is not None:
            self.removeRequested.emit(self.currentItem().data(Qt.ItemDataRole.UserRole))
            return
        super().keyPressEvent(event)

    # --- drops (QListWidget routes them through its viewport) --------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_files(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.filesDropped.emit(paths)

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def supportedDropActions(self):
        return Qt.DropAction.CopyAction
