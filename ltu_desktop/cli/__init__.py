"""`ltu-desktop`: the GUI by default; ask, transcribe, batch, eval, models, history, bench, serve and finetune
over one engine.

One module per subcommand, each with `add_parser(subparsers)` and `run(args)`; nothing outside this
package imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import ask, batch, bench, eval, finetune, history, models, serve, transcribe

SUBCOMMANDS = (ask, transcribe, batch, eval, bench, finetune, models, history, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ltu-desktop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("gui", help="start the desktop app (the default)", add_help=False)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def _is_gui(argv: list[str]) -> bool:
    """No subcommand means the app: `ltu-desktop`, `ltu-desktop clip.wav`, `ltu-desktop --theme dark`."""
    if not argv or argv[0] == "gui":
        return True
    try:
        is_file = Path(argv[0]).is_file()
    except OSError:  # a name too long for the file system is no file: the parser reports it
        is_file = False
    return is_file or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if _is_gui(argv):
        from ..ui.app import run_gui

        return run_gui(argv[1:] if argv and argv[0] == "gui" else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from ..audio.io import AudioError
    from ..engine.types import EngineError

    try:
        return args.func(args)
    except (AudioError, EngineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `ltu-desktop models list | head`: the reader left, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # a file name too long, a full disk, a folder without permission
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
