"""The app icon, drawn in code so it is sharp at any DPI and needs no packaged file."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap

BARS = (0.35, 0.6, 0.9, 0.55, 0.75, 0.4, 0.25)


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        p = QPainter(pixmap)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#3b82f6"))
        p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
        p.setBrush(QColor("#ffffff"))
        step = size * 0.8 / len(BARS)
        for i, h in enumerate(BARS):
            height = size * 0.7 * h
            x = size * 0.1 + i * step + step * 0.2
            p.drawRoundedRect(QRectF(x, (size - height) / 2, step * 0.6, height), step * 0.3, step * 0.3)
        p.end()
        icon.addPixmap(pixmap)
    return icon
