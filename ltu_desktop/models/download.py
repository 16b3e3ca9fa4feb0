"""Resumable, verified downloads and safe zip extraction, with the standard library only.

Model files are gigabytes over links that drop: bytes go to `NAME.part`, a later call resumes it
with an HTTP Range request, and the file is moved into place only once it is whole and its
SHA-256 matches. Every failure is a `DownloadError` whose message says what to do next.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import stat
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

USER_AGENT = "ltu-desktop/0.1 (+urllib)"
CHUNK = 1 << 20
SPACE_MARGIN = 64 << 20  # keep some room so a full disk does not also break the app's own writes


class DownloadError(RuntimeError):
    """A download or extraction that failed; the message is meant for the person."""


class DownloadCancelled(DownloadError):
    """Stopped on request; the `.part` file stays for a later resume."""


class Mismatch(DownloadError):
    """A whole download whose size, checksum or content differs from what was expected; it was not installed."""


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    rate: float  # bytes per second over this session
    seconds_left: float | None

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str


ProgressFn = Callable[[Progress], None]


class _Failed(DownloadError):
    """This URL could not deliver the file; another mirror may."""


class _Gone(_Failed):
    """The server has no such file (4xx) or answers with a web page: retrying the same URL is useless."""


class _Dropped(DownloadError):
    """The connection broke or the server failed mid-transfer; resumable."""


def human_size(n: float) -> str:
    if n < 1000:
        return f"{n:.0f} B"
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            break
    return f"{n:.1f} {unit}"


def sha256_file(path: Path, cancel: threading.Event | None = None,
                on_bytes: Callable[[int], None] | None = None) -> hashlib._Hash:
    """Hash a file in chunks so multi-GB files never sit in memory; `on_bytes` gets each chunk's length."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled("Cancelled.")
            h.update(block)
            if on_bytes is not None:
                on_bytes(len(block))
    return h


def check_free_space(folder: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(folder).free
    if needed + SPACE_MARGIN > free:
        raise DownloadError(f"Not enough free disk space for {what}: it needs {human_size(needed)} more, "
                            f"but {folder} has {human_size(free)} free. Free some space or choose another "
                            f"models folder (LTU_DESKTOP_MODELS), then try again.")


class Meter:
    """Rate and time left over this session's bytes, reported at most every `interval` seconds."""

    def __init__(self, fn: ProgressFn | None, start: int, total: int | None, interval: float = 0.2):
        self.fn, self.start, self.total, self.interval = fn, start, total, interval
        self.t0 = self.last = time.monotonic()
        self.done = start

    def add(self, n: int) -> None:
        self.done += n
        self(self.done)

    def __call__(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if self.fn is None or (not final and now - self.last < self.interval):
            return
        self.last = now
        rate = (done - self.start) / max(now - self.t0, 1e-6)
        left = (self.total - done) / rate if self.total and rate > 0 else None
        self.fn(Progress(done, self.total, rate, left))


def _describe_http(exc: urllib.error.HTTPError, url: str) -> str:
    host = urllib.request.urlparse(url).hostname or url
    if exc.code == 404 or exc.code == 410:
        return (f"The file is not on the server any more (HTTP {exc.code} from {host}). The link in the catalog "
                f"may have moved; download the file yourself and register it with `ltu-desktop models add`.")
    if exc.code in (401, 403):
        return f"The server refused the download (HTTP {exc.code} from {host}); the link may have expired."
    if exc.code == 429 or exc.code >= 500:
        return f"The server is busy or failing (HTTP {exc.code} from {host}); try again later (it will resume)."
    return f"The download failed: HTTP {exc.code} {exc.reason} from {host}."


def _amount(done: int, total: int | None) -> str:
    """"12.0 MB of 20.0 MB"; exact bytes when rounding would make a shortfall look complete."""
    if total is None:
        return human_size(done)
    if done < total and human_size(done) == human_size(total):
        return f"{done:,} of {total:,} bytes"
    return f"{human_size(done)} of {human_size(total)}"


def _validator(meta: dict) -> str | None:
    """What proves the server's file is still the one a `.part` began with: a strong ETag, else Last-Modified.
    Without one a resume could splice two versions of a file, so the download starts over instead."""
    etag = meta.get("etag") or ""
    return etag if etag and not etag.startswith("W/") else meta.get("last_modified") or None


def stale_work(folder: Path) -> list[Path]:
    """Extraction and swap folders left by a killed process (their names carry the pid), safe to delete."""
    found = []
    for path in Path(folder).glob(".*"):
        m = re.fullmatch(r"\..+\.(?:extracting|old)-(?:(\d+)-)?.*", path.name)
        if m and path.is_dir() and not (m[1] and _alive(int(m[1]))):
            found.append(path)
    return sorted(found)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (value or "").strip())
    return (int(m[1]), None if m[2] == "*" else int(m[2])) if m else None


def _meta_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_meta(part: Path) -> dict:
    try:
        data = json.loads(_meta_path(part).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta_path(part).unlink(missing_ok=True)


def fetch(urls: str | Iterable[str], dest: Path, *, sha256: str | None = None, size: int | None = None,
          approx_size: int | None = None, progress: ProgressFn | None = None,
          cancel: threading.Event | None = None, retries: int = 3, timeout: float = 30.0,
          chunk: int = CHUNK, retry_wait: float = 1.0) -> Fetched:
    """Download to `dest` via `dest.part`, resuming a previous `.part`, and verify before moving into place.

    `sha256`/`size` are the expected values (published or recorded); without them the caller records the
    returned hash. A dropped connection is resumed up to `retries` times before giving up (the `.part`
    stays). With several URLs, a link that is gone (HTTP 4xx) falls through to the next one.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last: DownloadError | None = None
    for url in urls:
        try:
            return _fetch_one(url, dest, part, sha256=sha256.lower() if sha256 else None, size=size,
                              approx_size=approx_size, progress=progress, cancel=cancel, retries=retries,
                              timeout=timeout, chunk=chunk, retry_wait=retry_wait)
        except _Failed as exc:
            last = DownloadError(str(exc))
    assert last is not None, "fetch needs at least one URL"
    raise last


def _fetch_one(url: str, dest: Path, part: Path, *, sha256: str | None, size: int | None,
               approx_size: int | None, progress: ProgressFn | None, cancel: threading.Event | None,
               retries: int, timeout: float, chunk: int, retry_wait: float) -> Fetched:
    meta = _read_meta(part)
    if part.exists() and meta.get("url") not in (None, url):
        _discard(part)  # bytes from another mirror may belong to another version of the file
    failures = restarts = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled(f"Cancelled; {part.name} is kept and the next download resumes it.")
        offset = part.stat().st_size if part.exists() else 0
        if offset and meta and _validator(meta) is None:  # the server gave nothing to resume against
            _discard(part)
            offset = 0
        try:
            result = _attempt(url, part, offset, meta, size=size, approx_size=approx_size, progress=progress,
                              cancel=cancel, timeout=timeout, chunk=chunk)
        except _Dropped as exc:
            failures += 1
            if failures > retries:
                raise _Failed(f"{exc} Run the download again to resume from there.") from None
            (cancel or threading.Event()).wait(retry_wait * failures)
            meta = _read_meta(part)
            continue
        if result is None:  # the server's copy changed or the .part is unusable: start over
            restarts += 1
            if restarts > 2:
                raise _Failed(f"{urllib.request.urlparse(url).hostname}: the server's answers to resume requests "
                              f"do not fit together; try again later.")
            _discard(part)
            meta = {}
            continue
        total, digest = result
        break
    if size is not None and total != size:
        _discard(part)
        raise Mismatch(f"{dest.name}: the download has {total} bytes but {size} were expected; the "
                            f"damaged file was deleted. Try again; if it repeats, the server's file has changed.")
    if sha256 is not None and digest != sha256:
        _discard(part)
        raise Mismatch(f"{dest.name}: checksum mismatch (the file is corrupted or not the expected one); "
                            f"it was deleted and not used. Try the download again.")
    os.replace(part, dest)
    _meta_path(part).unlink(missing_ok=True)
    return Fetched(dest, total, digest)


def _attempt(url: str, part: Path, offset: int, meta: dict, *, size: int | None, approx_size: int | None,
             progress: ProgressFn | None, cancel: threading.Event | None, timeout: float,
             chunk: int) -> tuple[int, str] | None:
    """One request: returns (total bytes, sha256) when the file is whole, None to restart from zero."""
    have = offset  # bytes the .part already holds on disk, overwritten in place on a restart
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = _validator(meta)
        if validator:  # only a .part without its .json (not written by this downloader) lacks one
            headers["If-Range"] = validator
    host = urllib.request.urlparse(url).hostname or url
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            whole = re.fullmatch(r"bytes \*/(\d+)", (exc.headers.get("Content-Range") or "").strip())
            if whole and int(whole[1]) == offset:  # the .part is already complete (stopped before the move)
                return offset, sha256_file(part, cancel).hexdigest()
            return None
        raise (_Gone if 400 <= exc.code < 500 else _Dropped)(_describe_http(exc, url)) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Dropped(f"Could not reach {host}: {reason}.") from None
    with resp:
        ctype = resp.headers.get("Content-Type", "")
        if ctype.startswith("text/html"):
            raise _Gone(f"{host} sent a web page instead of the file (the link may need a sign-in or have "
                        f"expired).")
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if resp.status == 206:
            rng = _content_range(resp.headers.get("Content-Range"))
            if rng is None or rng[0] != offset or (meta.get("total") and rng[1] and rng[1] != meta["total"]):
                return None
            total = rng[1] if rng[1] is not None else (offset + length if length is not None else None)
            digest = sha256_file(part, cancel)
        else:  # 200: a server that ignores Range (or a changed file, via If-Range) sends it all again
            offset, total, digest = 0, length, hashlib.sha256()
        if size is not None and total is not None and total != size:
            raise Mismatch(f"{part.name.removesuffix('.part')}: the server's file has {total} bytes but "
                                f"{size} were expected (recorded earlier); it has changed or is not the same file.")
        expect = total if total is not None else size or approx_size
        if expect is not None:
            check_free_space(part.parent, expect - have, part.name.removesuffix(".part"))
        _meta_path(part).write_text(json.dumps({"url": url, "total": total, "etag": resp.headers.get("ETag"),
                                                "last_modified": resp.headers.get("Last-Modified")}))
        meter = Meter(progress, offset, total)
        done = offset
        with open(part, "r+b" if offset else "wb", buffering=0) as f:
            f.seek(offset)
            f.truncate()
            while True:
                if cancel is not None and cancel.is_set():
                    raise DownloadCancelled(f"Cancelled; {part.name} is kept and the next download resumes it.")
                try:
                    block = resp.read(chunk)
                except (OSError, http.client.HTTPException) as exc:
                    stalled = isinstance(exc, (socket.timeout, TimeoutError))
                    raise _Dropped(f"The connection to {host} {'stalled' if stalled else 'dropped'} after "
                                   f"{_amount(done, total)}.") from None
                if not block:
                    break
                try:
                    f.write(block)
                except OSError as exc:
                    full = exc.errno == errno.ENOSPC
                    problem = "The disk is full" if full else f"Could not write {part}: {exc.strerror}"
                    raise DownloadError(f"{problem}; {part.name} is kept: fix this and run the download again to "
                                        f"resume.") from None
                digest.update(block)
                done += len(block)
                meter(done)
            os.fsync(f.fileno())
        meter(done, final=True)
        if total is not None and done < total:
            raise _Dropped(f"The connection to {host} dropped after {_amount(done, total)}.")
        return done, digest.hexdigest()


def _member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of a zip member, None for the archive root itself; raises when it could escape."""
    norm = name.replace("\\", "/")
    if norm.strip("/") in ("", "."):
        return None  # Dropbox folder zips carry a bare "/" entry: it names the target folder itself
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        raise DownloadError(f"Refused the archive: member {name!r} has an absolute path.")
    parts = [p for p in norm.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DownloadError(f"Refused the archive: member {name!r} would be written outside the target folder.")
    return PurePosixPath(*parts)


def extract_zip(archive: Path, target: Path, *, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, expected: dict[str, list] | None = None,
                check: Callable[[Path], None] | None = None) -> dict[str, list]:
    """Extract into a temporary folder beside `target`, then rename it into place; never writes outside it.

    Every member is checked before anything is written: absolute paths, `..`, and symlinks refuse the
    whole archive. A single top-level folder is unwrapped so `target` holds the files directly.
    Returns {relative path: [size, sha256]} of what was written, for later verification; with
    `expected` (recorded from an earlier download) a different content is refused before it is installed,
    and `check(folder)` (the strict loader) may refuse it too. The temporary folder's name carries the pid,
    so `stale_work` can tell a killed extraction's leftovers from a running one.
    """
    target = Path(target)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DownloadError(f"{archive.name} is not a readable zip archive ({exc}).") from None
    with zf:
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        for info in zf.infolist():
            rel = _member_path(info.filename)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DownloadError(f"Refused the archive: member {info.filename!r} is a symbolic link.")
            if rel is not None and not info.is_dir() and rel.parts[0] != "__MACOSX":  # Finder's metadata
                plan.append((info, rel))
        tops = {rel.parts[0] for _, rel in plan}
        strip = len(tops) == 1 and all(len(rel.parts) > 1 for _, rel in plan)
        total = sum(info.file_size for info, _ in plan)
        target.parent.mkdir(parents=True, exist_ok=True)
        check_free_space(target.parent, total, f"extracting {archive.name}")
        tmp = target.parent / f".{target.name}.extracting-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()  # with the person's umask, like the files inside
        manifest: dict[str, list] = {}
        meter, done = Meter(progress, 0, total), 0
        try:
            root = tmp.resolve()
            for info, rel in plan:
                rel = PurePosixPath(*rel.parts[1:]) if strip else rel
                out = tmp.joinpath(*rel.parts)
                if root not in out.resolve().parents:
                    raise DownloadError(f"Refused the archive: member {info.filename!r} escapes the folder.")
                out.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with zf.open(info) as src, open(out, "xb") as dst:
                    while block := src.read(CHUNK):
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled("Cancelled while extracting; nothing was installed.")
                        dst.write(block)
                        h.update(block)
                        done += len(block)
                        meter(done)
                manifest[rel.as_posix()] = [info.file_size, h.hexdigest()]
            meter(done, final=True)
            if expected is not None and manifest != expected:
                changed = sorted(set(expected) ^ set(manifest)
                                 | {k for k, v in manifest.items() if v != expected.get(k)})
                raise Mismatch(f"{archive.name} differs from the first download ({', '.join(changed[:3])}); it "
                                    f"was not installed. The server's copy has changed or the download is corrupted.")
            if check is not None:
                check(tmp)
            _swap_in(tmp, target)
        except zipfile.BadZipFile as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(f"{archive.name} is damaged ({exc}); delete it and download again.") from None
        except OSError as exc:  # a full disk, or members that clash (a file twice, or a file and a folder)
            shutil.rmtree(tmp, ignore_errors=True)
            raise DownloadError(f"Could not extract {archive.name}: {exc.strerror or exc} ({exc.filename}); "
                                f"nothing was installed.") from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return manifest


def _swap_in(tmp: Path, target: Path) -> None:
    """Replace `target` by `tmp` with renames only, so a crash leaves either the old or the new folder."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
