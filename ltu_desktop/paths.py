"""Where the app keeps its files; each folder can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "ltu-desktop"


def _folder(env: str, default: str) -> Path:
    path = Path(os.environ.get(env) or default).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    return _folder("LTU_DESKTOP_CACHE", platformdirs.user_cache_dir(APP))


def data_dir() -> Path:
    return _folder("LTU_DESKTOP_DATA", platformdirs.user_data_dir(APP))
