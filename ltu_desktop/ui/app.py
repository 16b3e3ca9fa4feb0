"""Start the desktop app: `run_gui(argv)` is what `ltu-desktop` and `python -m ltu_desktop` call."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from ..settings import DEVICES, PRECISIONS, THEMES, TRANSCRIPTS, ModelChoice, Settings, load_settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ltu-desktop", description="Ask questions about sounds with LTU-AS.")
    p.add_argument("files", nargs="*", help="audio files to open at start")
    p.add_argument("--device", choices=DEVICES, help="override the remembered device")
    p.add_argument("--precision", choices=PRECISIONS, help="override the remembered precision")
    p.add_argument("--transcripts", choices=TRANSCRIPTS,
                   help="override the remembered transcript backend (auto: CTranslate2 for large Whisper models)")
    p.add_argument("--theme", choices=THEMES, help="override the remembered theme")
    p.add_argument("--demo", action="store_true", help="load the demo profile instead of the remembered model")
    p.add_argument("--temperature", type=float, metavar="T", help="answer sampling temperature (0: greedy)")
    p.add_argument("--max-new-tokens", type=int, metavar="N", help="longest answer in tokens")
    files = p.add_argument_group("own LTU-AS files", "load these instead of the remembered model")
    files.add_argument("--llm", metavar="DIR", help="base LLM folder (Hugging Face format)")
    files.add_argument("--adapter", metavar="FILE", help="LTU-AS adapter or full fine-tune")
    files.add_argument("--feature-whisper", metavar="FILE", help="Whisper checkpoint for the audio features")
    files.add_argument("--asr-whisper", metavar="FILE", help="Whisper checkpoint for transcripts")
    shot = p.add_argument_group("screenshot", "start on a clip, ask, wait for the answer, save the window, exit")
    shot.add_argument("--screenshot", metavar="PNG", help="save a picture of the window here and exit")
    shot.add_argument("--clip", action="append", default=[], metavar="FILE", help="clip to open (repeatable)")
    shot.add_argument("--question", help="question to ask about the first clip")
    shot.add_argument("--window-start", type=float, default=0.0, metavar="S", help="start of the 10 s window")
    shot.add_argument("--size", default=(1280, 800), type=_size, metavar="WxH", help="window size (default 1280x800)")
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

    settings = with_overrides(load_settings(), args)
    screenshot = args.screenshot is not None
    apply_theme(app, settings.theme)
    app.setWindowIcon(app_icon())
    QGuiApplication.styleHints().colorSchemeChanged.connect(
        lambda _scheme: apply_theme(app, settings.theme) if settings.theme == "system" else None
    )

    window = MainWindow(settings, persist=not (screenshot or _overridden(args)), history=not screenshot)
    sys.excepthook = _report_to(window)
    problem = binding_problem()
    if problem:
        print(problem, file=sys.stderr)
        window.messages.show_message(problem)
    run = None
    if screenshot:
        from .screenshot import ScreenshotRun

        window.resize(*args.size)
        clips = args.clip or args.files
        run = ScreenshotRun(window, args.screenshot, clips, args.question, args.window_start, args.timeout)
    window.show()
    if run is not None:
        run.start()
    elif args.files:
        window.add_files(args.files)
    code = app.exec()
    window.close()
    code = run.exit_code if run is not None else code
    if not window.closed_cleanly:
        print("The model was still loading; leaving without waiting for it.", file=sys.stderr)
        sys.stderr.flush()
        os._exit(code)
    return code


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, like 1280x800, not {text!r}") from None
    return w, h


def with_overrides(settings: Settings, args: argparse.Namespace) -> Settings:
    """Command-line choices win over the remembered ones (a screenshot always uses the demo by default)."""
    if args.llm or args.adapter:
        settings.model = ModelChoice("files", args.llm or "", args.adapter or "", args.feature_whisper or "",
                                     args.asr_whisper or "")
    elif args.demo or args.screenshot:
        settings.model = ModelChoice()
    for name in ("device", "precision", "transcripts", "theme"):
        if getattr(args, name):
            setattr(settings, name, getattr(args, name))
    for name in ("temperature", "max_new_tokens"):
        if getattr(args, name) is not None:
            settings.generation[name] = getattr(args, name)
    return settings


OVERRIDES = ("device", "precision", "transcripts", "theme", "demo", "llm", "adapter", "feature_whisper", "asr_whisper",
             "temperature", "max_new_tokens")


def _overridden(args: argparse.Namespace) -> bool:
    """A run with command-line overrides is one-off: it must not rewrite the remembered settings."""
    return any(getattr(args, name) not in (None, False) for name in OVERRIDES)


def _report_to(window):
    """Unexpected errors go to stderr and into the window's message bar; the app keeps running."""

    def hook(kind, value, tb) -> None:
        traceback.print_exception(kind, value, tb)
        try:
            window.messages.show_message(f"Unexpected error: {kind.__name__}: {value}")
        except RuntimeError:
            pass

    return hook


_probe_refs: list = []


def binding_problem() -> str | None:
    """Detect PySide6 builds that drop a reference to True on every signal emit.

    PySide6 6.12.0 on Python 3.11 does this (3.12+ makes True immortal, so it is harmless
    there); after a few thousand streamed tokens the interpreter aborts. The probe's own loss
    is paid back, so the check itself does no harm.
    """
    from PySide6 import __version__
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe, rounds = Probe(), 8
    before = sys.getrefcount(True)
    for _ in range(rounds):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost < rounds:
        return None
    _probe_refs.extend([True] * lost)
    return (
        f"This PySide6 ({__version__}) loses object references on Python "
        f"{sys.version_info.major}.{sys.version_info.minor} and the app will crash after a while. "
        "Install another version: pip install 'PySide6-Essentials<6.12' (or use Python 3.12 or newer)."
    )
