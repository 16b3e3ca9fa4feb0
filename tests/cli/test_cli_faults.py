"""The CLI refuses nonsense before any work, never ends in a traceback, and keeps a person informed."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.cli import main


@pytest.mark.parametrize("argv, message", [
    (["--max-new-tokens", "-3"], "--max-new-tokens: -3 is out of range: use a whole number from 1 to 100000"),
    (["--temperature", "-1"], "--temperature: -1 is out of range: use a number from 0 to 10 (0 = greedy)"),
    (["--top-p", "0"], "--top-p: 0 is out of range: use a number above 0 and up to 1"),
    (["--window", "nan"], "--window: nan is out of range: use a number at least 0"),
    (["--repetition-penalty", "0"], "--repetition-penalty: 0 is out of range"),
    (["--top-k", "x"], "--top-k: 'x' is not a whole number"),
])
def test_nonsense_generation_values_are_refused_with_the_range(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["ask", "clip.wav", "What?"] + argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--questions", "0"], "from 1 to 5"), (["--questions", "99"], "from 1 to 5"),
    (["--lengths", "10,-3"], "--lengths: -3 is out of range"), (["--clip-seconds", "5,inf"], "inf is out of range"),
])
def test_nonsense_bench_values_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(["bench"] + argv)
    assert message in capsys.readouterr().err


def test_bench_out_is_checked_before_measuring(tmp_path, capsys, monkeypatch):
    import ltu_desktop.bench.runner as bench

    monkeypatch.setattr(bench, "run_bench", lambda *a: pytest.fail("measured before checking --out"))
    (tmp_path / "file").write_text("")
    assert main(["bench", "--out", str(tmp_path / "file")]) == 1
    assert "is a file" in capsys.readouterr().err
    assert main(["bench", "--out", "/proc/self/bench"]) == 1
    err = capsys.readouterr().err
    assert "cannot be written" in err and "Traceback" not in err


def test_a_very_long_file_name_is_one_line_not_a_traceback(capsys):
    name = "a" * 300 + ".wav"
    assert main(["ask", name, "What?", "--profile", "demo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: aaaa") and "File name too long" in err and "Traceback" not in err
    assert main(["transcribe", name]) == 1
    with pytest.raises(SystemExit):  # no such file, so not the GUI: the parser's one-line usage error
        main([name])


def test_models_list_into_a_closed_pipe_ends_quietly():
    head = subprocess.run(f"'{sys.executable}' -m ltu_desktop models list | head -1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert head.stdout.strip() and "Traceback" not in head.stderr and "BrokenPipe" not in head.stderr


def test_a_prompt_longer_than_the_context_is_refused(tiny_engine):
    from ltu_desktop.audio.io import from_array
    from ltu_desktop.engine.types import EngineError, GenerationSettings, Transcript

    clip = tiny_engine.prepare(from_array(np.zeros(16000, np.float32)), transcript=Transcript(""))
    with pytest.raises(EngineError, match=r"reads at most 1024 .*Shorten the question \(20000 characters\)"):
        list(tiny_engine.answer(clip, "why " * 5000, settings=GenerationSettings(max_new_tokens=2)))


def test_an_answer_that_would_run_past_the_context_is_cut_with_a_note(tiny_engine, monkeypatch):
    from ltu_desktop.audio.io import from_array
    from ltu_desktop.engine.types import GenerationSettings, Transcript

    clip = tiny_engine.prepare(from_array(np.zeros(16000, np.float32)), transcript=Transcript(""))
    greedy = GenerationSettings(temperature=0, max_new_tokens=1)
    list(tiny_engine.answer(clip, "What?", settings=greedy))
    prompt = tiny_engine.last_answer.stats.prompt_tokens
    monkeypatch.setattr(tiny_engine.lm.llm.config, "max_position_embeddings", prompt + 2)
    list(tiny_engine.answer(clip, "What?", settings=GenerationSettings(temperature=0, max_new_tokens=50)))
    answer = tiny_engine.last_answer
    assert answer.stats.new_tokens <= 2 and any("limited to 2 tokens" in n for n in answer.notes)


def test_a_slow_stage_shows_its_elapsed_time(capsys):
    from ltu_desktop.cli.common import ticking

    with ticking("Transcribing 1200 s of audio", quiet=False, after=0.05):
        time.sleep(0.3)
    with ticking("Quick", quiet=False, after=5):
        pass
    err = capsys.readouterr().err
    assert "Transcribing 1200 s of audio: " in err and "done in" in err and "Quick" not in err
