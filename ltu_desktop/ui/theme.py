"""Light and dark themes on the Fusion style; "system" follows the desktop's colour scheme live.

Fusion looks the same everywhere and honours the palette fully, so one small style sheet that
refers to palette roles serves both themes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

ACCENT = QColor("#3b82f6")

STYLE = """
QFrame#question { background: palette(highlight); color: palette(highlighted-text); border-radius: 10px; }
QFrame#question QLabel { color: palette(highlighted-text); }
QFrame#answer { background: palette(alternate-base); border: 1px solid palette(mid); border-radius: 10px; }
QLabel[placeholder="true"] { color: palette(placeholder-text); font-style: italic; }
QLabel#muted { color: palette(placeholder-text); }
QLabel#note { color: palette(placeholder-text); font-size: 11px; }
QLabel#error { color: #d83b3b; }
QLabel#training { color: #1f9d55; font-weight: 600; }
QFrame#answer[training="true"] { border: 2px solid #1f9d55; }
QPushButton#chip { border: 1px solid palette(mid); border-radius: 11px; padding: 3px 10px; background: palette(base); }
QPushButton#chip:hover { border-color: palette(highlight); }
QPushButton#chip:disabled { color: palette(placeholder-text); }
QPushButton#chip:focus { border: 2px solid palette(highlight); }
QPushButton#primary:focus { border: 2px solid palette(text); }
QToolButton:focus { border: 1px solid palette(highlight); border-radius: 3px; }
QToolButton#link { color: palette(link); border: none; }
QToolButton#link:hover { text-decoration: underline; }
QToolButton#link:focus { border: 1px solid palette(highlight); }
QLineEdit[invalid="true"] { border: 1px solid #d83b3b; }
QPushButton#primary {
    background: palette(highlight); color: palette(highlighted-text); border-radius: 4px; padding: 5px 14px;
}
QPushButton#primary:disabled { background: palette(mid); }
QToolButton#record:checked { background: #d83b3b; color: white; border-radius: 4px; }
QFrame#messagebar { border-radius: 6px; padding: 2px; }
QFrame#messagebar[level="error"] { background: rgba(216, 59, 59, 40); border: 1px solid rgba(216, 59, 59, 140); }
QFrame#messagebar[level="info"] { background: rgba(59, 130, 246, 35); border: 1px solid rgba(59, 130, 246, 120); }
QWidget#thread { background: palette(base); }
"""


_system_window: list[QColor] = []


def system_is_dark() -> bool:
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    if not _system_window:  # remember the desktop's own palette before ours replaces it
        _system_window.append(QGuiApplication.palette().color(QPalette.ColorRole.Window))
    return _system_window[0].lightness() < 128


def dark_palette() -> QPalette:
    p = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#1f2125",
        QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#17181b",
        QPalette.ColorRole.AlternateBase: "#2a2d33",
        QPalette.ColorRole.ToolTipBase: "#2a2d33",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.PlaceholderText: "#8b9099",
        QPalette.ColorRole.Text: "#e6e6e6",
        QPalette.ColorRole.Button: "#2a2d33",
        QPalette.ColorRole.ButtonText: "#e6e6e6",
        QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Light: "#3a3d44",
        QPalette.ColorRole.Midlight: "#33363c",
        QPalette.ColorRole.Mid: "#44474f",
        QPalette.ColorRole.Dark: "#101113",
        QPalette.ColorRole.Shadow: "#000000",
        QPalette.ColorRole.Highlight: ACCENT.name(),
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7aa7ff",
    }
    for role, color in colors.items():
        p.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f77"))
    return p


def light_palette() -> QPalette:
    p = QStyleFactory.create("Fusion").standardPalette()
    p.setColor(QPalette.ColorRole.Highlight, ACCENT)
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#f1f3f6"))
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor("#6b7280"))
    return p


def apply_theme(app: QApplication, theme: str = "system") -> bool:
    """Apply "light", "dark" or "system"; returns whether the result is dark."""
    system_is_dark()
    app.setStyle("Fusion")
    dark = system_is_dark() if theme == "system" else theme == "dark"
    app.setPalette(dark_palette() if dark else light_palette())
    app.setStyleSheet(STYLE)
    return dark
