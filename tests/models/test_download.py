"""Downloads against a real HTTP server on 127.0.0.1: ranges, redirects, drops, 404, corruption, cancel, zips."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import threading
import time
import zipfile
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ltu_desktop.models import download
from ltu_desktop.models.download import DownloadCancelled, DownloadError, extract_zip, fetch

DATA = os.urandom(300_000)


class FileServer:
    """Serves `files` under /files/NAME with ranges, plus /redirect/, /norange/, /held/ and /page/ variants.

    `drop[NAME] = n` makes the next answer for NAME close the connection after n body bytes; /held/ sends
    40 000 bytes, then waits for `release`.
    """

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self.validators = True  # False: a server that sends neither ETag nor Last-Modified
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Range")))
                route, _, name = self.path.lstrip("/").partition("/")
                name = name.split("?")[0]
                if route == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"/files/{name}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if route == "page":
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", "15")
                    self.end_headers()
                    self.wfile.write(b"<html>hi</html>")
                    return
                if name not in owner.files:
                    self.send_error(404)
                    return
                data = owner.files[name]
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if_range = self.headers.get("If-Range")
                start = int(m[1]) if m and route != "norange" and if_range in (None, etag) else None
                if start is not None and start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start or 0:]
                self.send_response(206 if start is not None else 200)
                if start is not None:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                if owner.validators:
                    self.send_header("ETag", etag)
                self.end_headers()
                cut = owner.drop.pop(name, None)
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                try:
                    if route == "held":
                        self.wfile.write(body[:40_000])
                        self.wfile.flush()
                        owner.release.wait(5)
                        body = body[40_000:]
                    self.wfile.write(body)
                except OSError:
                    return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, name: str, route: str = "files") -> str:
        return f"{self.base}/{route}/{name}"

    def ranges(self) -> list[str | None]:
        return [r for _, r in self.requests]


@pytest.fixture
def server():
    s = FileServer()
    s.thread.start()
    try:
        yield s
    finally:
        s.httpd.shutdown()
        s.httpd.server_close()
        s.thread.join(5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FAST = dict(chunk=8192, retry_wait=0.0, timeout=5.0)


def test_plain_download_verifies_and_reports_progress(server, tmp_path):
    server.files["a.bin"] = DATA
    seen = []
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", sha256=sha(DATA), progress=seen.append, **FAST)
    assert got.path.read_bytes() == DATA and got.sha256 == sha(DATA) and got.size == len(DATA)
    assert not (tmp_path / "a.bin.part").exists() and not (tmp_path / "a.bin.part.json").exists()
    assert seen[-1].done == seen[-1].total == len(DATA) and seen[-1].rate > 0


def test_redirect_is_followed_and_keeps_the_range(server, tmp_path):
    server.files["a.bin"] = DATA
    (tmp_path / "a.bin.part").write_bytes(DATA[:1000])
    got = fetch(server.url("a.bin", "redirect"), tmp_path / "a.bin", sha256=sha(DATA), **FAST)
    assert got.path.read_bytes() == DATA
    assert [p for p, _ in server.requests] == ["/redirect/a.bin", "/files/a.bin"]
    assert server.ranges() == ["bytes=1000-", "bytes=1000-"]


def test_dropped_connection_fails_then_resumes_with_range(server, tmp_path):
    server.files["a.bin"] = DATA
    server.drop["a.bin"] = 100_000
    with pytest.raises(DownloadError, match="dropped after 100.0 KB of 300.0 KB.*resume"):
        fetch(server.url("a.bin"), tmp_path / "a.bin", retries=0, **FAST)
    assert (tmp_path / "a.bin.part").stat().st_size == 100_000 and not (tmp_path / "a.bin").exists()
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", retries=0, **FAST)
    assert got.path.read_bytes() == DATA and got.sha256 == sha(DATA)
    assert server.ranges() == [None, "bytes=100000-"]


def test_dropped_connection_is_retried_within_one_call(server, tmp_path):
    server.files["a.bin"] = DATA
    server.drop["a.bin"] = 50_000
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", sha256=sha(DATA), retries=2, **FAST)
    assert got.path.read_bytes() == DATA and server.ranges() == [None, "bytes=50000-"]


def test_404_is_explained_and_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match="not on the server any more .HTTP 404"):
        fetch(server.url("gone.bin"), tmp_path / "gone.bin", **FAST)
    assert list(tmp_path.iterdir()) == []


def test_web_page_instead_of_the_file_is_refused(server, tmp_path):
    with pytest.raises(DownloadError, match="web page instead of the file"):
        fetch(server.url("a.bin", "page"), tmp_path / "a.bin", **FAST)
    assert list(tmp_path.iterdir()) == []


def test_mirror_is_used_when_the_first_link_is_gone(server, tmp_path):
    server.files["a.bin"] = DATA
    got = fetch([server.url("gone.bin"), server.url("a.bin")], tmp_path / "a.bin", sha256=sha(DATA), **FAST)
    assert got.path.read_bytes() == DATA


def test_checksum_mismatch_deletes_everything(server, tmp_path):
    server.files["a.bin"] = DATA
    with pytest.raises(DownloadError, match="checksum mismatch.*deleted"):
        fetch(server.url("a.bin"), tmp_path / "a.bin", sha256=sha(b"other"), **FAST)
    assert list(tmp_path.iterdir()) == []


def test_recorded_size_differs_before_downloading(server, tmp_path):
    server.files["a.bin"] = DATA
    with pytest.raises(DownloadError, match="300000 bytes but 5 were expected"):
        fetch(server.url("a.bin"), tmp_path / "a.bin", size=5, **FAST)
    assert not (tmp_path / "a.bin").exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.files["a.bin"] = DATA
    (tmp_path / "a.bin.part").write_bytes(b"x" * 5000)
    got = fetch(server.url("a.bin", "norange"), tmp_path / "a.bin", sha256=sha(DATA), **FAST)
    assert got.path.read_bytes() == DATA and server.ranges() == ["bytes=5000-"]


def test_changed_file_on_the_server_is_not_spliced(server, tmp_path):
    server.files["a.bin"] = DATA
    server.drop["a.bin"] = 100_000
    with pytest.raises(DownloadError):
        fetch(server.url("a.bin"), tmp_path / "a.bin", retries=0, **FAST)
    server.files["a.bin"] = new = os.urandom(len(DATA))
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", **FAST)
    assert got.path.read_bytes() == new and got.sha256 == sha(new)


def test_complete_part_left_by_a_crash_is_moved_in(server, tmp_path):
    server.files["a.bin"] = DATA
    (tmp_path / "a.bin.part").write_bytes(DATA)
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", sha256=sha(DATA), **FAST)
    assert got.path.read_bytes() == DATA


def test_not_enough_disk_space_is_refused_before_writing(server, tmp_path, monkeypatch):
    server.files["a.bin"] = DATA
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: namedtuple("U", "total used free")(1, 1, 10))
    with pytest.raises(DownloadError, match="Not enough free disk space.*300.0 KB"):
        fetch(server.url("a.bin"), tmp_path / "a.bin", **FAST)
    assert not (tmp_path / "a.bin.part").exists()


def test_cancel_keeps_the_part_and_a_later_call_resumes(server, tmp_path):
    server.files["a.bin"] = DATA
    part, cancel = tmp_path / "a.bin.part", threading.Event()

    def cancel_midway() -> None:
        for _ in range(5000):
            if part.exists() and part.stat().st_size >= 32_768:  # 4 chunks of the 40 000 bytes sent
                break
            time.sleep(0.001)
        cancel.set()
        server.release.set()

    helper = threading.Thread(target=cancel_midway)
    helper.start()
    with pytest.raises(DownloadCancelled, match="kept"):
        fetch(server.url("a.bin", "held"), tmp_path / "a.bin", cancel=cancel, **FAST)
    helper.join()
    kept = part.stat().st_size
    assert 32_768 <= kept < len(DATA) and not (tmp_path / "a.bin").exists()
    got = fetch(server.url("a.bin", "held"), tmp_path / "a.bin", sha256=sha(DATA), **FAST)
    assert got.path.read_bytes() == DATA and server.ranges()[-1] == f"bytes={kept}-"


def make_zip(members: dict[str, bytes], extra: list[zipfile.ZipInfo] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for info in extra:
            zf.writestr(info, b"target")
    return buf.getvalue()


def test_zip_is_extracted_and_a_single_top_folder_unwrapped(tmp_path):
    root = zipfile.ZipInfo("/")
    root.external_attr = (stat.S_IFDIR | 0o755) << 16
    archive = tmp_path / "llm.zip"
    archive.write_bytes(make_zip({"vicuna/config.json": b"{}", "vicuna/sub/w.bin": DATA}, [root]))
    manifest = extract_zip(archive, tmp_path / "llm")
    assert (tmp_path / "llm" / "config.json").read_bytes() == b"{}"
    assert manifest == {"config.json": [2, sha(b"{}")], "sub/w.bin": [len(DATA), sha(DATA)]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llm", "llm.zip"]


@pytest.mark.parametrize("name, message", [("../evil.txt", "outside"), ("a/../../evil.txt", "outside"),
                                           ("/tmp/evil.txt", "absolute"), ("C:/evil.txt", "absolute")])
def test_unsafe_zip_members_refuse_the_archive(tmp_path, name, message):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(make_zip({"config.json": b"{}", name: b"evil"}))
    with pytest.raises(DownloadError, match=message):
        extract_zip(archive, tmp_path / "out" / "llm")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "bad.zip"
    archive.write_bytes(make_zip({"config.json": b"{}"}, [link]))
    with pytest.raises(DownloadError, match="symbolic link"):
        extract_zip(archive, tmp_path / "llm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip"]


def test_zip_differing_from_the_record_is_not_installed(tmp_path):
    archive = tmp_path / "llm.zip"
    archive.write_bytes(make_zip({"config.json": b"{}"}))
    with pytest.raises(DownloadError, match="differs from the first download"):
        extract_zip(archive, tmp_path / "llm", expected={"config.json": [2, sha(b"[]")]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["llm.zip"]


def test_damaged_zip_is_reported(tmp_path):
    archive = tmp_path / "llm.zip"
    archive.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DownloadError, match="not a readable zip"):
        extract_zip(archive, tmp_path / "llm")
