"""The clips, newest first, each with its saved conversations; also where files are dropped."""

from __future__ import annotations

import time

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QAbstractItemView, QStyle, QTreeWidget, QTreeWidgetItem, QWidget

from .waveform_view import clock

KEY = Qt.ItemDataRole.UserRole  # ("clip", clip id) or ("conversation", conversation id)
SHIFT_GUARD_S = 0.6  # a click this soon after rows moved under the pointer was aimed at the old row


def local_files(mime: QMimeData) -> list[str]:
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class ClipList(QTreeWidget):
    """One row per clip (name, duration, "missing" when its file is gone) with its conversations below it.

    Choosing a clip row emits `clipSelected(clip id)`, a conversation row `conversationSelected(clip id,
    conversation id)`; Delete emits `deleteRequested(keys of the selected rows)`; a drop of local files emits
    `filesDropped(paths)`.
    """

    filesDropped = Signal(list)
    clipSelected = Signal(object)  # clip id or None
    conversationSelected = Signal(int, int)  # clip id, conversation id
    deleteRequested = Signal(list)  # [("clip", id) | ("conversation", id), ...]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Clips and conversations")
        self.setToolTip("Clips and their conversations. Drop audio files here; Delete removes the selected rows.")
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._clips: dict[int, QTreeWidgetItem] = {}
        self._conversations: dict[int, QTreeWidgetItem] = {}
        self._shifted = 0.0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.currentItemChanged.connect(lambda item, _prev: self._chosen(item))

    def _chosen(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            self.clipSelected.emit(None)
            return
        kind, ident = item.data(0, KEY)
        if kind == "clip":
            self.clipSelected.emit(ident)
        else:
            self.conversationSelected.emit(item.parent().data(0, KEY)[1], ident)

    # --- clips -------------------------------------------------------------------------------
    def add_clip(self, clip_id: int, name: str, duration: float, recorded: bool, missing: bool = False,
                 select: bool = True) -> None:
        """At the top (the newest); selected unless `select` is False."""
        item = QTreeWidgetItem()
        item.setData(0, KEY, ("clip", clip_id))
        self._clips[clip_id] = item
        self.insertTopLevelItem(0, item)
        self._shifted = time.monotonic()
        self.set_clip(clip_id, name, duration, recorded, missing)
        if select:
            self.setCurrentItem(item)

    def set_clip(self, clip_id: int, name: str, duration: float, recorded: bool, missing: bool) -> None:
        item = self._clips.get(clip_id)
        if item is None:
            return
        pixmap = QStyle.StandardPixmap
        icon = pixmap.SP_MessageBoxWarning if missing else pixmap.SP_MediaVolume if recorded else pixmap.SP_FileIcon
        note = " · missing" if missing else ""
        item.setIcon(0, self.style().standardIcon(icon))
        item.setText(0, f"{name}\n{clock(duration)}{note}")
        item.setToolTip(0, f"{name}: the audio file is gone; its conversations can still be read" if missing
                        else name)
        spoken = f"{name}, {clock(duration)}" + (", missing" if missing else "")
        item.setData(0, Qt.ItemDataRole.AccessibleTextRole, spoken)

    def remove_clip(self, clip_id: int) -> None:
        item = self._clips.pop(clip_id, None)
        if item is None:
            return
        for i in range(item.childCount()):
            self._conversations.pop(item.child(i).data(0, KEY)[1], None)
        self.takeTopLevelItem(self.indexOfTopLevelItem(item))

    def select(self, clip_id: int) -> None:
        if clip_id in self._clips:
            self.setCurrentItem(self._clips[clip_id])

    def count(self) -> int:
        return self.topLevelItemCount()

    def clip_ids(self) -> list[int]:
        return [self.topLevelItem(i).data(0, KEY)[1] for i in range(self.topLevelItemCount())]

    # --- conversations ---------------------------------------------------------------------
    def set_conversation(self, clip_id: int, conversation_id: int, text: str, tooltip: str) -> None:
        """Adds the conversation (at the top of its clip's) or updates its row."""
        item = self._conversations.get(conversation_id)
        if item is None:
            parent = self._clips.get(clip_id)
            if parent is None:
                return
            item = QTreeWidgetItem()
            item.setData(0, KEY, ("conversation", conversation_id))
            self._conversations[conversation_id] = item
            parent.insertChild(0, item)
            parent.setExpanded(True)
            self._shifted = time.monotonic()
        item.setText(0, text)
        item.setToolTip(0, tooltip)

    def remove_conversation(self, conversation_id: int) -> None:
        item = self._conversations.pop(conversation_id, None)
        if item is not None:
            item.parent().removeChild(item)

    def select_conversation(self, conversation_id: int) -> None:
        if conversation_id in self._conversations:
            self.setCurrentItem(self._conversations[conversation_id])

    def mark_open(self, clip_id: int, conversation_id: int | None) -> None:
        """Bold for the conversation the chat shows; the clip's others in the normal font."""
        parent = self._clips.get(clip_id)
        for i in range(parent.childCount() if parent is not None else 0):
            child = parent.child(i)
            font = child.font(0)
            font.setBold(child.data(0, KEY)[1] == conversation_id)
            child.setFont(0, font)

    def conversation_ids(self, clip_id: int) -> list[int]:
        """Oldest first, like the store and its exports."""
        parent = self._clips.get(clip_id)
        n = parent.childCount() if parent is not None else 0
        return [parent.child(i).data(0, KEY)[1] for i in reversed(range(n))]

    def selected_keys(self) -> list[tuple[str, int]]:
        """The selected rows, top to bottom (the current one when nothing is selected)."""
        rows = []
        for i in range(self.topLevelItemCount()):
            top = self.topLevelItem(i)
            rows += [top, *(top.child(j) for j in range(top.childCount()))]
        items = [it for it in rows if it.isSelected()] or [it for it in [self.currentItem()] if it is not None]
        return [tuple(it.data(0, KEY)) for it in items]

    def key_at(self, pos) -> tuple[str, int] | None:
        item = self.itemAt(pos)
        return tuple(item.data(0, KEY)) if item is not None else None

    def mousePressEvent(self, event) -> None:
        """A click just after rows were inserted above the pointer is dropped: it would pick the wrong row."""
        if time.monotonic() - self._shifted < SHIFT_GUARD_S:
            event.accept()
            return
        super().mousePressEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected_keys():
            self.deleteRequested.emit(self.selected_keys())
            return
        super().keyPressEvent(event)

    # --- drops (the view routes them through its viewport) -----------------------------------
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
