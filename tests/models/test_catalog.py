"""The model catalog, the models folder's checksum record, own files, profiles and `ltu-desktop models`."""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from test_download import server  # noqa: F401  (the HTTP server fixture)

from ltu_desktop.cli.models import add_parser as add_models_parser
from ltu_desktop.models.catalog import (FEATURES, KINDS, Catalog, CatalogError, Models, catalog_path,
                                 models_dir)
from ltu_desktop.models.download import DownloadError

ADAPTER = os.urandom(120_000)
SHARD = os.urandom(90_000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_released_catalog_lists_every_file_with_its_fields():
    cat = Catalog.load()
    assert set(cat.files) == {"vicuna_ltuas", "ltuas_long_noqa_a6", "ltuas_long_noqa_old_gpu", "ltuas_ori_paper",
                              "ltuas_long_noqa_old_gpus_fullft", "large-v1", "large-v2",
                              "vicuna_ltu", "ltu_ori_paper", "full_ft_2e-5_20000"}
    for e in cat.files.values():
        assert e.kind in KINDS and e.url.startswith("https://") and e.approx_size > 0 and e.description and e.path
        assert (e.features in FEATURES) == (e.kind in ("adapter", "full-finetune"))
    assert [e.name for e in cat.files.values() if e.default] == ["ltuas_long_noqa_a6"]
    assert cat.files["ltuas_long_noqa_a6"].features == "fp16"
    assert cat.files["ltuas_ori_paper"].features == "fp32-then-fp16"
    for name in ("large-v1", "large-v2"):
        e = cat.files[name]
        assert e.sha256 and f"/{e.sha256}/{name}.pt" in e.url
    assert all(e.sha256 is None for e in cat.files.values() if e.kind != "whisper")
    ltu, full = cat.profiles["ltu"], cat.profiles["ltu-fullft"]
    assert (ltu.family, ltu.llm, ltu.adapter, ltu.feature_whisper) == ("ltu", "vicuna_ltu", "ltu_ori_paper", "")
    assert cat.files[full.adapter].kind == "full-finetune" and cat.files["ltu_ori_paper"].approx_size == 370_000_000


def test_whisper_urls_are_openai_whispers_own():
    whisper = pytest.importorskip("whisper")
    cat = Catalog.load()
    assert cat.files["large-v1"].url == whisper._MODELS["large-v1"]
    assert cat.files["large-v2"].url == whisper._MODELS["large-v2"]


def test_released_profiles_combine_the_right_files():
    cat = Catalog.load()
    a6 = cat.profiles[cat.default_profile]
    assert a6.recommended and a6.files() == ("vicuna_ltuas", "ltuas_long_noqa_a6", "large-v1", "large-v2")
    adapters = {e.name for e in cat.files.values() if e.kind in ("adapter", "full-finetune")}
    assert {p.adapter for p in cat.profiles.values() if not p.builtin} == adapters
    assert cat.profiles["demo"].builtin == "demo" and cat.profiles["demo"].files() == ()


@pytest.mark.parametrize("change, message", [
    (lambda d: d["files"]["a"].pop("url"), "lacks url"),
    (lambda d: d["files"]["a"].update(kind="lora"), "kind 'lora'"),
    (lambda d: d["files"]["a"].pop("features"), "features"),
    (lambda d: d["files"]["a"].update(sha256="abc"), "malformed sha256"),
    (lambda d: d["files"]["a"].update(path="../a.bin"), "plain relative path"),
    (lambda d: d["profiles"]["p"].update(adapter="w"), "adapter 'w' is not"),
    (lambda d: d.update(default_profile="nope"), "default_profile"),
])
def test_bad_catalogs_are_refused(change, message):
    data = catalog_data("http://127.0.0.1:9")
    change(data)
    with pytest.raises(CatalogError, match=message):
        Catalog.parse(data)


def test_folders_follow_arguments_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LTU_DESKTOP_MODELS", str(tmp_path / "env"))
    assert models_dir() == tmp_path / "env" and models_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("LTU_DESKTOP_MODELS")
    monkeypatch.setenv("LTU_DESKTOP_DATA", str(tmp_path / "data"))
    assert models_dir() == tmp_path / "data" / "models"
    monkeypatch.setenv("LTU_DESKTOP_CATALOG", str(tmp_path / "c.toml"))
    assert catalog_path() == tmp_path / "c.toml"


def catalog_data(base: str) -> dict:
    return {
        "default_profile": "p",
        "files": {
            "llm": {"path": "llm", "kind": "llm-zip", "url": f"{base}/files/llm.zip", "approx_size": 200_000,
                    "description": "base"},
            "a": {"path": "a.bin", "kind": "adapter", "url": f"{base}/files/a.bin", "approx_size": 120_000,
                  "description": "adapter", "features": "fp32-then-fp16"},
            "w": {"path": "w.pt", "kind": "whisper", "url": f"{base}/files/w.pt", "approx_size": 5,
                  "description": "whisper", "sha256": sha(b"whisper")},
        },
        "profiles": {"p": {"label": "P", "llm": "llm", "adapter": "a", "feature_whisper": "w", "asr_whisper": "w"},
                     "demo": {"label": "Demo", "builtin": "demo"}},
    }


def llm_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("vicuna/config.json", b"{}")
        zf.writestr("vicuna/pytorch_model-00001-of-00002.bin", SHARD)
    return buf.getvalue()


@pytest.fixture
def models(server, tmp_path):  # noqa: F811
    server.files.update({"a.bin": ADAPTER, "llm.zip": llm_zip(), "w.pt": b"whisper"})
    return Models(tmp_path / "models", Catalog.parse(catalog_data(server.base)))


def test_first_download_records_size_and_hash_then_verify_detects_a_change(models):
    path = models.download("a", retry_wait=0)
    rec = models._records()["files"]["a"]
    assert rec["size"] == len(ADAPTER) and rec["sha256"] == sha(ADAPTER) and rec["source"] == "first download"
    assert [(r.name, r.ok) for r in models.verify("a")] == [("a", True)]
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    result = models.verify("a")[0]
    assert result.ok is False and "SHA-256 differs from the recorded" in result.message
    path.write_bytes(ADAPTER[:-1])
    assert models.verify("a.bin")[0].ok is False and "size" in models.verify("a")[0].message


def test_redownload_is_checked_against_the_first_one(models, server):  # noqa: F811
    models.download("a")
    models.remove("a")
    assert not models.present("a") and "a" in models._records()["files"]
    server.files["a.bin"] = os.urandom(len(ADAPTER))
    with pytest.raises(DownloadError, match="checksum mismatch"):
        models.download("a", retry_wait=0)
    assert not models.present("a") and not (models.root / "a.bin.part").exists()
    models.remove("a", forget=True)
    models.download("a")
    assert models.verify("a")[0].ok


def test_published_checksum_is_enforced(models, server):  # noqa: F811
    assert models.download("w").read_bytes() == b"whisper"
    assert models.verify("w")[0].message == "SHA-256 matches the published one"
    models.remove("w")
    server.files["w.pt"] = b"whispex"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        models.download("w")
    assert not models.present("w")


def test_llm_zip_is_extracted_recorded_and_verified(models):
    seen = []
    folder = models.download("llm", progress=lambda stage, p: seen.append(stage))
    assert (folder / "config.json").exists() and not (models.root / "llm.zip").exists()
    assert {s.split()[0] for s in seen} == {"downloading", "extracting"}
    assert set(models._records()["files"]["llm"]["manifest"]) == {"config.json", "pytorch_model-00001-of-00002.bin"}
    assert models.verify("llm")[0].ok
    (folder / "pytorch_model-00001-of-00002.bin").write_bytes(SHARD[::-1])
    result = models.verify("llm")[0]
    assert result.ok is False and "pytorch_model-00001-of-00002.bin" in result.message


def test_status_and_missing_follow_the_folder(models):
    assert [e.name for e in models.missing("p")] == ["llm", "a", "w"]
    (models.root / "a.bin.part").parent.mkdir(parents=True)
    (models.root / "a.bin.part").write_bytes(b"123")
    status = {s.entry.name: s for s in models.status()}
    assert status["a"].partial_bytes == 3 and not status["a"].present and status["w"].checksum == "published"
    models.download("a")
    assert [e.name for e in models.missing("p")] == ["llm", "w"]


def test_own_files_are_validated_registered_and_never_deleted(models, tmp_path):
    own = tmp_path / "mine.bin"
    own.write_bytes(ADAPTER)
    calls = []
    entry = models.add(own, "adapter", features="fp32-then-fp16", validate=lambda p, k: calls.append((p, k)))
    assert calls == [(own.resolve(), "adapter")] and entry.own and entry.name == "mine"
    assert models.entry("mine").features == "fp32-then-fp16" and models.verify("mine")[0].ok

    def refuse(path: Path, kind: str) -> None:
        raise ValueError("missing tensors audio_proj.*")

    with pytest.raises(CatalogError, match="not a usable adapter: missing tensors"):
        models.add(own, "adapter", name="other", validate=refuse)
    with pytest.raises(CatalogError, match="catalog name"):
        models.add(own, "adapter", name="a")
    with pytest.raises(CatalogError, match="a folder"):
        models.add(own, "llm")
    own.write_bytes(ADAPTER[::-1])
    assert models.verify("mine")[0].ok is False
    models.remove("mine")
    assert own.exists() and "mine" not in models.entries()


def test_engine_profile_names_what_to_download_and_maps_feature_precision(models):
    from ltu_desktop.engine.types import EngineError

    with pytest.raises(EngineError, match="missing llm .*ltu-desktop models download p"):
        models.engine_profile("p")
    assert models.download_profile("p") == [models.root / "llm", models.root / "a.bin", models.root / "w.pt"]
    profile = models.engine_profile("p")
    assert profile.llm == models.root / "llm" and profile.adapter == models.root / "a.bin"
    assert profile.feature_whisper == profile.asr_whisper == models.root / "w.pt"
    assert profile.feature_precision == "fp32" and profile.label == "P"
    with pytest.raises(EngineError, match="No profile named 'x'"):
        models.engine_profile("x")


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_models_parser(parser.add_subparsers())
    args = parser.parse_args(["models", *argv])
    return args.func(args)


def real_llm_zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"vicuna/{f.name}")
    return buf.getvalue()


def test_cli_list_download_verify_remove(server, tmp_path, monkeypatch, capsys, tiny_profile):  # noqa: F811
    """The CLI opens what no checksum vouches for before recording it, so the files served here are real."""
    server.files.update({"a.bin": tiny_profile.adapter.read_bytes(), "llm.zip": real_llm_zip(tiny_profile.llm),
                         "w.pt": b"whisper"})
    data = catalog_data(server.base)
    lines = [f'default_profile = "{data["default_profile"]}"']
    for table in ("files", "profiles"):
        for name, fields in data[table].items():
            lines.append(f'[{table}."{name}"]')
            lines += [f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in fields.items()]
    (tmp_path / "catalog.toml").write_text("\n".join(lines))
    monkeypatch.setenv("LTU_DESKTOP_CATALOG", str(tmp_path / "catalog.toml"))
    root = str(tmp_path / "models")
    assert run_cli("--dir", root, "download", "p") == 0
    err = capsys.readouterr().err
    assert "\rdownloading a.bin:" in err and "extracting llm" in err
    assert run_cli("--dir", root, "list") == 0
    out = capsys.readouterr().out
    assert "p                P: ready" in out and "demo             Demo: built in" in out
    assert run_cli("--dir", root, "verify") == 0
    (tmp_path / "models" / "a.bin").write_bytes(b"broken")
    assert run_cli("--dir", root, "verify", "a") == 1 and "FAILED" in capsys.readouterr().out
    assert run_cli("--dir", root, "remove", "a") == 0 and not (tmp_path / "models" / "a.bin").exists()
    assert run_cli("--dir", root, "download", "nothing") == 1
    assert "error: No model file named 'nothing'" in capsys.readouterr().err


def test_the_catalog_file_ships_inside_the_package(monkeypatch):
    """A built wheel carries ltu_desktop/models/catalog.toml; nothing is read from the source tree."""
    import tomllib

    import ltu_desktop.models

    monkeypatch.delenv("LTU_DESKTOP_CATALOG", raising=False)
    assert catalog_path().parent == Path(ltu_desktop.models.__file__).parent
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "catalog.toml" in pyproject["tool"]["setuptools"]["package-data"]["ltu_desktop.models"]
