"""The headless CLI as a person uses it."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from ltu_desktop.cli import main


def _model(profile):
    return ["--llm", str(profile.llm), "--adapter", str(profile.adapter), "--whisper", str(profile.feature_whisper),
            "--asr-whisper", str(profile.asr_whisper), "--device", "cpu"]


def test_ask_streams_and_reports(tiny_profile, tmp_path, capsys):
    sf.write(str(tmp_path / "c.wav"), np.random.default_rng(0).standard_normal(16000 * 3) * 0.1, 16000)
    code = main(["ask", str(tmp_path / "c.wav"), "Describe the sound.", "--temperature", "0", "--max-new-tokens", "5",
                 "--transcript", "hello"] + _model(tiny_profile))
    out = capsys.readouterr()
    assert code == 0 and "tok/s" in out.err and "window 0.0-3.0s" in out.err


def test_ask_json(tiny_profile, tmp_path, capsys):
    sf.write(str(tmp_path / "c.wav"), np.random.default_rng(0).standard_normal(16000 * 14) * 0.1, 16000)
    code = main(["ask", str(tmp_path / "c.wav"), "Describe the sound.", "--json", "--quiet", "--temperature", "0",
                 "--max-new-tokens", "5", "--window", "3"] + _model(tiny_profile))
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["window"] == [3.0, 13.0] and len(data["pred_ids"]) <= 5
    assert data["stats"]["device"] == "cpu"


def test_transcribe_json(tiny_profile, tmp_path, capsys):
    sf.write(str(tmp_path / "c.wav"), np.zeros(16000), 16000)
    assert main(["transcribe", str(tmp_path / "c.wav"), "--json", "--quiet"] + _model(tiny_profile)) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["no_speech"] is True and data["segments"] == []


def test_errors_are_one_line_and_exit_1(tiny_profile, tmp_path, capsys):
    (tmp_path / "x.wav").write_text("text")
    assert main(["ask", str(tmp_path / "x.wav"), "Hi?"] + _model(tiny_profile)) == 1
    assert "error: x.wav: not a readable audio file" in capsys.readouterr().err
    sf.write(str(tmp_path / "c.wav"), np.zeros(16000), 16000)
    assert main(["ask", str(tmp_path / "c.wav"), "Hi?", "--llm", str(tmp_path)]) == 1
    assert "--llm needs --adapter as well" in capsys.readouterr().err


def test_the_demo_answers_greedily_on_the_command_line_as_in_the_app():
    """Issue 14, item 13: the same question must give the same answer in the CLI and the app (both greedy)."""
    from types import SimpleNamespace

    from ltu_desktop.cli import build_parser
    from ltu_desktop.cli.common import settings_from
    from ltu_desktop.engine.demo import Demo
    from ltu_desktop.engine.engine import Engine
    from ltu_desktop.engine.ltu_as import LTUAS

    def settings(family, *flags):
        engine = SimpleNamespace(family=family)
        engine.default_settings = lambda **given: Engine.default_settings(engine, **given)
        return settings_from(build_parser().parse_args(["ask", "a.wav", "q", *flags]), engine)

    assert settings(Demo()).temperature == 0.0
    assert settings(Demo(), "--temperature", "0.7").temperature == 0.7
    assert settings(LTUAS()).temperature == 0.1 and settings(LTUAS()).max_new_tokens == 500
    from ltu_desktop.engine.ltu import LTU

    assert (settings(LTU()).top_k, settings(LTU()).repetition_penalty, settings(LTU()).max_new_tokens) == (50, 1.0, 400)
    ray = build_parser().parse_args(["batch", "--input", "i.json", "--output", "o.json", "--ray", "local"])
    assert settings_from(ray, kind="demo").temperature == 0.0  # no engine on the driver: the family still decides


def test_transcripts_backend_is_chosen_and_said(tiny_profile, tmp_path, capsys):
    """--transcripts ctranslate2 converts the transcript Whisper once and says so; --transcripts openai-whisper
    keeps the authors' backend (no note)."""
    import pytest

    pytest.importorskip("faster_whisper")
    sf.write(str(tmp_path / "c.wav"), np.zeros(16000), 16000)
    assert main(["transcribe", str(tmp_path / "c.wav"), "--json", "--transcripts", "ctranslate2"]
                + _model(tiny_profile)) == 0
    out = capsys.readouterr()
    assert "Transcripts come from CTranslate2 (float32)" in out.err and "no_speech" in json.loads(out.out)
    assert main(["transcribe", str(tmp_path / "c.wav"), "--json", "--transcripts", "openai-whisper"]
                + _model(tiny_profile)) == 0
    assert "CTranslate2" not in capsys.readouterr().err
