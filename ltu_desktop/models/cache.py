"""A build-once cache entry: a file or folder made atomically and vouched for by a manifest.

The manifest (`<name>.json` beside the entry) records what the entry was built from (`source`:
package versions, source sizes, recipe) and the size and SHA-256 of every file it holds. An entry
is reused only when the source still matches and every file still hashes the same, so a truncated
or corrupted file, or an upgraded package, leads to a rebuild instead of a confusing load error.
Hashing the ~350 MB of demo models takes ~0.3 s, cheap next to loading them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

_STALE_S = 3600  # a temp entry this old belongs to a crashed build, not a running one


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _files(entry: Path) -> dict[str, dict]:
    paths = sorted(p for p in entry.rglob("*") if p.is_file()) if entry.is_dir() else [entry]
    return {
        p.relative_to(entry.parent).as_posix(): {"size": p.stat().st_size, "sha256": _digest(p)} for p in paths
    }


def is_valid(entry: Path, source: dict, hashes: bool = True) -> bool:
    """True when `entry` was built from `source` and none of its files changed since. `hashes=False` checks
    sizes only: for multi-GB entries whose loader detects damage itself (hashing 3 GB takes ~3 s per load)."""
    try:
        manifest = json.loads(entry.with_name(entry.name + ".json").read_text())
        if manifest.get("source") != source or not manifest.get("files"):
            return False
        for rel, want in manifest["files"].items():
            p = entry.parent / rel
            if p.stat().st_size != want["size"] or hashes and _digest(p) != want["sha256"]:
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def build_entry(entry: Path, source: dict, build: Callable[[Path], None]) -> Path:
    """Run `build(temp_path)` (it creates a file or a folder there), then swap it in and write the manifest.

    The manifest goes first on removal and last on creation, so a crash at any point leaves an entry
    that `is_valid` rejects, never one it wrongly trusts."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    for old in entry.parent.glob(f".{entry.name}.*.tmp"):
        try:
            if time.time() - old.stat().st_mtime > _STALE_S:
                _remove(old)
        except OSError:
            pass
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    manifest = entry.with_name(entry.name + ".json")
    try:
        build(tmp)
        files = {entry.name + rel[len(tmp.name):]: meta for rel, meta in _files(tmp).items()}
        manifest.unlink(missing_ok=True)
        if entry.exists() or entry.is_symlink():
            trash = entry.with_name(f".{entry.name}.{uuid.uuid4().hex[:8]}.old.tmp")
            os.replace(entry, trash)
            _remove(trash)
        os.replace(tmp, entry)
        part = manifest.with_name(f".{manifest.name}.{uuid.uuid4().hex[:8]}.tmp")
        part.write_text(json.dumps({"source": source, "files": files}, indent=1, sort_keys=True))
        os.replace(part, manifest)
    finally:
        _remove(tmp)
    return entry
