"""What the downloader and the models folder refuse to trust, and what a kill leaves behind."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest
from test_catalog import ADAPTER, catalog_data, real_llm_zip, run_cli, sha
from test_download import FAST, server  # noqa: F401  (the HTTP server fixture)

from ltu_desktop.engine.checkpoints import validate_file
from ltu_desktop.models.catalog import Catalog, Models
from ltu_desktop.models.download import DownloadError, Mismatch, _amount, extract_zip, fetch

DATA = os.urandom(300_000)


def test_no_resume_without_a_validator_so_a_changed_file_is_not_spliced(server, tmp_path):  # noqa: F811
    server.validators = False
    server.files["a.bin"] = DATA
    server.drop["a.bin"] = 100_000
    with pytest.raises(DownloadError):
        fetch(server.url("a.bin"), tmp_path / "a.bin", retries=0, **FAST)
    server.files["a.bin"] = new = os.urandom(len(DATA))
    got = fetch(server.url("a.bin"), tmp_path / "a.bin", **FAST)
    assert got.path.read_bytes() == new and server.ranges() == [None, None]


def test_a_shortfall_is_never_rounded_into_a_whole(server, tmp_path):  # noqa: F811
    assert _amount(19_999_990, 20_000_000) == "19,999,990 of 20,000,000 bytes"
    assert _amount(10_000_000, 20_000_000) == "10.0 MB of 20.0 MB"
    server.files["a.bin"] = DATA
    server.drop["a.bin"] = len(DATA) - 10
    with pytest.raises(DownloadError, match="dropped after 299,990 of 300,000 bytes"):
        fetch(server.url("a.bin"), tmp_path / "a.bin", retries=0, **FAST)


def _models(server, tmp_path, validate=None):  # noqa: F811
    return Models(tmp_path / "models", Catalog.parse(catalog_data(server.base)), validate=validate)


def test_a_corrupt_first_download_is_not_recorded_as_the_truth(server, tmp_path, tiny_profile):  # noqa: F811
    models = _models(server, tmp_path, validate_file)
    server.files["a.bin"] = os.urandom(5000)  # what a broken link or proxy might deliver
    with pytest.raises(DownloadError, match="does not open as an adapter.*nothing was recorded"):
        models.download("a", retry_wait=0)
    assert not models.present("a") and "a" not in models._records()["files"]
    server.files["a.bin"] = genuine = tiny_profile.adapter.read_bytes()
    models.download("a", retry_wait=0)
    rec = models._records()["files"]["a"]
    assert rec["sha256"] == sha(genuine) and rec["opened"] is True


def test_an_llm_zip_that_does_not_open_is_not_installed(server, tmp_path, tiny_profile):  # noqa: F811
    models = _models(server, tmp_path, validate_file)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vicuna/config.json", b'{"model_type": "llama"}')
        zf.writestr("vicuna/model.safetensors", os.urandom(4000))
    server.files["llm.zip"] = buf.getvalue()
    with pytest.raises(DownloadError, match="does not open as an LLM folder"):
        models.download("llm")
    assert not models.present("llm") and models.leftovers() == [] and "llm" not in models._records()["files"]
    server.files["llm.zip"] = real_llm_zip(tiny_profile.llm)
    assert (models.download("llm") / "model.safetensors").is_file()


def test_a_mismatch_with_an_unconfirmed_record_explains_itself_and_offers_forget(server, tmp_path):  # noqa: F811
    models = _models(server, tmp_path)
    server.files["a.bin"] = ADAPTER
    models.download("a")
    models.remove("a")
    server.files["a.bin"] = os.urandom(len(ADAPTER))
    with pytest.raises(Mismatch) as err:
        models.download("a", retry_wait=0)
    text = str(err.value)
    assert "checksum mismatch" in text and "never confirmed" in text and "models remove a --forget" in text


def test_killed_extractions_are_cleaned_by_the_next_models_command(server, tmp_path, monkeypatch,  # noqa: F811
                                                                   capsys):
    root = tmp_path / "models"
    dead = root / ".vicuna_ltuas.extracting-999999999-1a2b3c4d"  # no such process
    older = root / ".vicuna_ltuas.extracting-k2j3h4"  # named by an older version, without a pid
    running = root / f".vicuna_ltuas.extracting-{os.getpid()}-5e6f7a8b"  # an extraction still going on
    for folder in (dead, older, running):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "shard.bin").write_bytes(b"x" * 1000)
    models = Models(root)
    assert [p for p, _ in models.leftovers()] == sorted([dead, older]) and models.leftovers()[0][1] == 1000
    assert run_cli("--dir", str(root), "list") == 0
    out = capsys.readouterr()
    assert "Removed 2 folder(s) left by interrupted extractions (2.0 KB)" in out.err
    assert not dead.exists() and not older.exists() and running.exists()


def test_leftovers_that_cannot_be_removed_are_listed(tmp_path, monkeypatch, capsys):
    import shutil

    root = tmp_path / "models"
    (root / ".vicuna_ltuas.extracting-999999999-1a2b3c4d").mkdir(parents=True)
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    assert run_cli("--dir", str(root), "list") == 0
    assert "(leftover)" in capsys.readouterr().out


def test_installed_files_follow_the_umask(server, tmp_path, tiny_profile):  # noqa: F811
    old = os.umask(0o022)
    try:
        models = _models(server, tmp_path)
        server.files["llm.zip"] = real_llm_zip(tiny_profile.llm)
        folder = models.download("llm")
        target = tmp_path / "t"
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("x/a.txt", b"a")
        (tmp_path / "z.zip").write_bytes(buf.getvalue())
        extract_zip(tmp_path / "z.zip", target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755 and stat.S_IMODE(target.stat().st_mode) == 0o755
    assert stat.S_IMODE(models.record_path.stat().st_mode) == 0o644
