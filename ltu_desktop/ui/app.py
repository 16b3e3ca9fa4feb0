"""Start the desktop app: `run_gui(argv)` is what `ltu-desktop` and `python -m ltu_desktop` call."""

from __future__ import annotations

import argparse
import sys
import traceback

from ..settings import DEVICES, PRECISIONS, THEMES, ModelChoice, load_settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltu-desktop", description="Ask questions about sounds with LTU-AS.")
    p.add_argument("files", nargs="*", help="audio files to open at start")
    p.add_argument("--device", choices=DEVICES, help="override the remembered device")
    p.add_argument("--precision", choices=PRECISIONS, help="override the remembered precision")
    p.add_argument("--theme", choices=THEMES, help="override the remembered theme")
    p.add_argument("--demo", action="store_true", help="load the demo profile instead of the remembered model")
    shot = p.add_argument_group("screenshot", "start on a clip, ask, wait for the answer, save the window, exit")
    shot.add_argument("--screenshot", metavar="PNG", help="save a picture of the window here and exit")
    shot.add_argument("--clip", action="append", default=[], metavar="FILE", help="clip to open (repeatable)")
    shot.add_argument("--question", help="question to ask about the first clip")
    shot.add_argument("--window-start", type=float, default=0.0, metavar="S", help="start of the 10 s window")
    shot.add_argument("--size", default="1280x800", metavar="WxH", help="window size (default 1280x800)")
    shot.add_argument("--timeout", type=float, default=900.0, metavar="S", help="give up after this long")
    return p


def run_gui(argv: list[str] | None = None) -> int:
    args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("ltu-desktop")
    app.setApplicationDisplayName("LTU-AS Desktop")
    app.setDesktopFileName("ltu-desktop")

    from .icon import app_icon
    from .main_window import MainWindow
    from .theme import apply_theme

    settings = load_settings()
    screenshot = args.screenshot is not None
    if args.demo or screenshot:
        settings.model = ModelChoice()
    for name in ("device", "precision", "theme"):
        if getattr(args, name):
            setattr(settings, name, getattr(args, name))
    apply_theme(app, settings.theme)
    app.setWindowIcon(app_icon())
    hints = QGuiApplication.styleHints()
    if settings.theme == "system":
        hints.colorSchemeChanged.connect(lambda _scheme: apply_theme(app, settings.theme))

    window = MainWindow(settings, persist=not screenshot)
    sys.excepthook = _report_to(window)
    run = None
    if screenshot:
        from .screenshot import ScreenshotRun

        w, h = (int(v) for v in args.size.lower().split("x"))
        window.resize(w, h)
        run = ScreenshotRun(window, args.screenshot, args.clip or args.files, args.question, args.window_start, args.timeout)
    window.show()
    if run is not None:
        run.start()
    elif args.files:
        window.add_files(args.files)
    code = app.exec()
    window.close()
    return run.exit_code if run is not None else code


def _report_to(window):
    """Unexpected errors go to stderr and into the window's message bar; the app keeps running."""

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        try:
            window.messages.show_message(f"Unexpected error: {kind.__name__}: {value}")
        except RuntimeError:
            pass

    return hook
