"""One lock file per open history, so a process can tell whether another's "streaming" answer is still alive."""

from __future__ import annotations

import os
import time
from pathlib import Path

STALE_LOCK_S = 60.0  # a lock file younger than this may belong to a process that has not locked it yet


class SessionLock:
    """A file held locked while a History is open, so another process can tell whether a "streaming" message's
    writer is still alive (the OS drops the lock when a process dies, kill -9 included)."""

    def __init__(self, folder: Path, session: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{session}.lock"
        self.fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(self.fd):
            os.close(self.fd)
            self.fd = None
            raise OSError(f"cannot lock {self.path}")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
            self.path.unlink(missing_ok=True)

    def alive(self, session: str | None) -> bool:
        if session is None:
            return False
        path = self.folder / f"{session}.lock"
        if path == self.path:
            return True
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return False
        try:
            return not _try_lock(fd)
        finally:
            os.close(fd)

    def forget(self, session: str | None) -> None:
        """Drop a dead session's file; safe because a session locks its file before it writes any message."""
        if session is not None and session != self.path.stem:
            try:
                (self.folder / f"{session}.lock").unlink(missing_ok=True)
            except OSError:
                pass

    def others_alive(self) -> bool:
        return any(p != self.path and self.alive(p.stem) for p in self.folder.glob("*.lock"))

    def sweep(self) -> None:
        """Remove the lock files of dead processes (old enough that their owner had time to lock them)."""
        for path in self.folder.glob("*.lock"):
            try:
                if path != self.path and time.time() - path.stat().st_mtime > STALE_LOCK_S \
                        and not self.alive(path.stem):
                    path.unlink(missing_ok=True)
            except OSError:
                pass


def _try_lock(fd: int) -> bool:
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
