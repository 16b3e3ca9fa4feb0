"""Which Whisper makes the transcripts: CTranslate2 by default for large checkpoints, converted once."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from ltu_desktop.engine.types import CheckpointError, EngineError, Profile
from ltu_desktop.models import transcripts
from ltu_desktop.models.transcripts import with_transcripts

pytest.importorskip("faster_whisper")


def _whisper(path: Path, layers: int, n_vocab: int = 51864) -> Path:
    """A random openai-whisper checkpoint, narrow but `layers` deep (depth decides auto), stored in fp16 as
    OpenAI's are."""
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=layers,
                n_vocab=n_vocab, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2)
    model = Whisper(ModelDimensions(**dims))
    state = {k: v.half() for k, v in model.state_dict().items() if k != "encoder.positional_embedding"}
    torch.save({"dims": dims, "model_state_dict": state}, path)
    return path


def _profile(asr: Path, kind: str = "ltu-as") -> Profile:
    return Profile("p", Path("llm"), asr, kind=kind)


@pytest.fixture(scope="module")
def deep(tmp_path_factory) -> Path:
    """24 encoder layers: Whisper medium/large depth."""
    return _whisper(tmp_path_factory.mktemp("w") / "deep.pt", 24)


def test_auto_runs_large_models_through_ctranslate2_converted_once(deep):
    first = with_transcripts(_profile(deep), "auto")
    assert first.asr_whisper.is_dir() and (first.asr_whisper / "model.bin").is_file()
    built = (first.asr_whisper / "model.bin").stat().st_mtime_ns
    again = with_transcripts(_profile(deep), "auto")
    assert again.asr_whisper == first.asr_whisper
    assert (again.asr_whisper / "model.bin").stat().st_mtime_ns == built  # reused, not rebuilt


def test_auto_keeps_small_models_and_the_demo_on_openai_whisper(tmp_path, deep):
    small = _whisper(tmp_path / "small.pt", 4)
    assert with_transcripts(_profile(small), "auto").asr_whisper == small
    assert with_transcripts(_profile(deep, kind="demo"), "auto").asr_whisper == deep
    assert with_transcripts(_profile(deep), "openai-whisper").asr_whisper == deep


def test_ctranslate2_can_be_asked_for_any_size_and_transcribes(tmp_path):
    from ltu_desktop.audio.io import from_array
    from ltu_desktop.engine.transcribe import Transcriber

    small = _whisper(tmp_path / "small.pt", 2)
    folder = with_transcripts(_profile(small), "ctranslate2").asr_whisper
    transcriber = Transcriber(folder, torch.device("cpu"))
    assert transcriber.describe() == "CTranslate2 float32"
    out = transcriber(from_array(torch.zeros(16000).numpy(), source="silence"))
    assert isinstance(out.text, str)  # random weights: any words, but it runs end to end


def test_a_changed_or_damaged_copy_is_rebuilt(tmp_path):
    source = _whisper(tmp_path / "w.pt", 2)
    folder = with_transcripts(_profile(source), "ctranslate2").asr_whisper
    (folder / "model.bin").write_bytes(b"broken")
    rebuilt = with_transcripts(_profile(source), "ctranslate2").asr_whisper
    assert (rebuilt / "model.bin").stat().st_size > 1000
    _whisper(source, 3)  # the person replaced the checkpoint: a new copy, not the old one
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    from ctranslate2.models import Whisper

    assert Whisper(str(with_transcripts(_profile(source), "ctranslate2").asr_whisper)).n_mels == 80


def test_clear_messages_for_what_cannot_run(tmp_path, deep, monkeypatch):
    folder = with_transcripts(_profile(deep), "ctranslate2").asr_whisper
    with pytest.raises(EngineError, match="CTranslate2 Whisper folder; openai-whisper needs a .pt"):
        with_transcripts(_profile(folder), "openai-whisper")
    assert with_transcripts(_profile(folder), "auto").asr_whisper == folder
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        with_transcripts(_profile(bad), "ctranslate2")
    odd = _whisper(tmp_path / "odd.pt", 24, n_vocab=51866)  # large-v3's vocabulary: no packaged tokenizer
    assert with_transcripts(_profile(odd), "auto").asr_whisper == odd  # auto: openai-whisper runs it
    with pytest.raises(CheckpointError, match="cannot run through CTranslate2.*openai-whisper"):
        with_transcripts(_profile(odd), "ctranslate2")
    with pytest.raises(EngineError, match="Unknown transcript backend"):
        with_transcripts(_profile(deep), "whisper.cpp")
    monkeypatch.setattr(transcripts, "has_ctranslate2", lambda: False)
    assert with_transcripts(_profile(deep), "auto").asr_whisper == deep  # auto falls back quietly
    with pytest.raises(EngineError, match="pip install faster-whisper"):
        with_transcripts(_profile(deep), "ctranslate2")
    assert with_transcripts(replace(_profile(deep), asr_whisper=None), "ctranslate2").asr_whisper is None
