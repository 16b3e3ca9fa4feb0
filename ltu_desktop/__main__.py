"""`python -m ltu_desktop` = `ltu-desktop`: the GUI, or a subcommand (ask, batch, ...)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
