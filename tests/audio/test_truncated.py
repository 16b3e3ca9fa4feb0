"""A WAV cut short (an interrupted copy) is used, but the person is told it is not whole."""

import json

import numpy as np
import soundfile as sf

from ltu_desktop.audio.io import load_audio


def _cut(tmp_path, keep: float):
    sf.write(str(tmp_path / "whole.wav"), np.zeros(16000 * 4, np.float32), 16000, subtype="PCM_16")
    data = (tmp_path / "whole.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: 44 + int((len(data) - 44) * keep)])
    return tmp_path / "cut.wav"


def test_a_cut_wav_says_so_and_is_used(tmp_path):
    audio = load_audio(_cut(tmp_path, 0.5))
    assert abs(audio.duration - 2.0) < 0.01
    assert "truncated" in audio.warning and "promises 4.0 s" in audio.warning and "after 2.0 s" in audio.warning
    assert load_audio(tmp_path / "whole.wav").warning is None


def test_a_header_never_filled_in_is_not_called_truncated(tmp_path):
    path = _cut(tmp_path, 1.0)
    data = bytearray(path.read_bytes())
    data[40:44] = b"\xff\xff\xff\xff"  # a streaming writer's "unknown length"
    path.write_bytes(bytes(data))
    assert load_audio(path).warning is None


def test_the_cli_and_batch_report_it(tmp_path, capsys, monkeypatch):
    from ltu_desktop.cli import main

    _cut(tmp_path, 0.5)
    main(["ask", str(tmp_path / "cut.wav"), "What?", "--llm", str(tmp_path)])
    assert "note: cut.wav is truncated" in capsys.readouterr().err
    (tmp_path / "items.json").write_text(json.dumps([{"audio_id": "cut.wav", "instruction": "What?", "input": "x"}]))

    class Echo:
        window_seconds = 10.0
        last_answer = None

        def prepare(self, audio, window, transcript=None):
            from ltu_desktop.engine.types import Answer, Stats

            self.last_answer = Answer("ok", [], False, Stats(), "", "x")
            return audio

        def answer(self, *a, **k):
            yield "ok"
    from ltu_desktop.batch.runner import run_batch
    from ltu_desktop.engine.types import GenerationSettings

    run_batch(Echo(), tmp_path / "items.json", tmp_path / "out.json", GenerationSettings(), quiet=True)
    assert "truncated" in json.loads((tmp_path / "out.json").read_text())[0]["warning"]
