"""`python -m ltu_desktop [files] [GUI options]` starts the GUI; a subcommand (ask, batch, …) goes to the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

CLI_FLAGS = ("-h", "--help", "--version")


def _is_gui(argv: list[str]) -> bool:
    if not argv or argv[0] == "gui":
        return True
    first = argv[0]
    return Path(first).is_file() or (first.startswith("-") and first not in CLI_FLAGS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not _is_gui(argv):
        from .cli import main as cli_main

        return cli_main(argv)
    from .ui.app import run_gui

    return run_gui(argv[1:] if argv and argv[0] == "gui" else argv)


if __name__ == "__main__":
    sys.exit(main())
