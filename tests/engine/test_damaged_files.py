"""A damaged or booby-trapped weights file is named in one sentence, on add and on load, never a traceback."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from ltu_desktop.engine.checkpoints import load_pickled, validate_file
from ltu_desktop.engine.types import CheckpointError


@pytest.fixture
def llm_copy(tiny_profile, tmp_path):
    folder = tmp_path / "llm"
    shutil.copytree(tiny_profile.llm, folder)
    return folder


def _damage(path, how):
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "random": os.urandom(len(data)),
                      "header only": data[:8]}[how])


@pytest.mark.parametrize("how, message", [("truncated", "is truncated"), ("empty", "empty or truncated"),
                                          ("random", "not a safetensors file"), ("header only", "")])
def test_a_damaged_safetensors_file_is_named(llm_copy, how, message):
    _damage(llm_copy / "model.safetensors", how)
    with pytest.raises(CheckpointError, match=f"model.safetensors are damaged.*{message}"):
        validate_file(llm_copy, "llm")


def test_a_bin_that_is_not_tensors_is_named(llm_copy):
    (llm_copy / "model.safetensors").unlink()
    torch.save({"model.embed_tokens.weight": 3}, llm_copy / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin hold entries that are not tensors"):
        validate_file(llm_copy, "llm")


class _Payload:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_pickle_with_code_is_refused_without_torchs_advice(tmp_path, capsys):
    torch.save({"w": _Payload()}, tmp_path / "evil.bin")
    with pytest.raises(CheckpointError) as err:
        load_pickled(tmp_path / "evil.bin", "Adapter")
    text = str(err.value)
    assert "contains code" in text and "not loaded" in text and "weights_only" not in text
    assert "this ran" not in capsys.readouterr().out


def test_misshapen_llm_weights_are_named(llm_copy):
    from safetensors.torch import load_file, save_file

    sd = load_file(llm_copy / "model.safetensors")
    sd["model.embed_tokens.weight"] = sd["model.embed_tokens.weight"][:-1].clone()
    save_file(sd, llm_copy / "model.safetensors")
    with pytest.raises(CheckpointError, match="model.safetensors do not fit llm/config.json: model.embed_tokens"):
        validate_file(llm_copy, "llm")


def test_add_and_load_refuse_a_damaged_folder_in_one_line(tiny_profile, llm_copy, tmp_path, capsys):
    from dataclasses import replace

    from ltu_desktop.cli import main
    from ltu_desktop.engine.engine import Engine

    _damage(llm_copy / "model.safetensors", "truncated")
    assert main(["models", "--dir", str(tmp_path / "models"), "add", str(llm_copy), "--kind", "llm"]) == 1
    err = capsys.readouterr().err
    assert "model.safetensors are damaged" in err and "Traceback" not in err
    with pytest.raises(CheckpointError, match="model.safetensors are damaged"):
        Engine.load(replace(tiny_profile, llm=llm_copy), device="cpu", precision="fp32")
