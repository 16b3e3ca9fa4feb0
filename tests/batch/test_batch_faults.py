"""`batch` refuses what would lose data before any model loads, survives malformed items, and stays bounded."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.cli import main


def _args(profile):
    return ["--llm", str(profile.llm), "--adapter", str(profile.adapter), "--whisper", str(profile.feature_whisper),
            "--asr-whisper", str(profile.asr_whisper), "--device", "cpu", "--quiet", "--temperature", "0",
            "--max-new-tokens", "2"]


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if a model starts loading: the checks must come first."""
    from ltu_desktop.engine.engine import Engine

    def refuse(*a, **k):
        raise AssertionError("the model was loaded before the input and output were checked")
    monkeypatch.setattr(Engine, "load", classmethod(refuse))


def _items(tmp_path, items):
    sf.write(str(tmp_path / "a.wav"), np.zeros(16000, np.float32), 16000)
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    return path


ONE = [{"audio_id": "a.wav", "instruction": "What?", "input": "words", "output": "the reference"}]


def test_output_equal_to_the_input_is_refused_and_the_input_kept(tiny_profile, tmp_path, capsys, no_model):
    items = _items(tmp_path, ONE)
    before = items.read_text()
    (tmp_path / "link.json").symlink_to(items)
    for out in (items, tmp_path / "link.json", tmp_path / "sub" / ".." / "items.json"):
        assert main(["batch", "--input", str(items), "--output", str(out)] + _args(tiny_profile)) == 1
        assert "is the input file" in capsys.readouterr().err
    assert items.read_text() == before


def test_unusable_outputs_are_refused_before_loading(tiny_profile, tmp_path, capsys, no_model):
    items = _items(tmp_path, ONE)
    (tmp_path / "folder").mkdir()
    assert main(["batch", "--input", str(items), "--output", str(tmp_path / "folder")] + _args(tiny_profile)) == 1
    assert "is a folder" in capsys.readouterr().err
    assert main(["batch", "--input", str(items), "--output", "/proc/self/nope/out.json"] + _args(tiny_profile)) == 1
    err = capsys.readouterr().err
    assert "cannot be written" in err and "Traceback" not in err


def test_bad_input_files_are_refused_before_loading(tiny_profile, tmp_path, capsys, no_model):
    for content, message in (("{not json", "not a readable JSON file"), ('{"a": 1}', "must hold a JSON list"),
                             ("[]", "holds no items")):
        (tmp_path / "items.json").write_text(content)
        out = tmp_path / "out.json"
        assert main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(out)] + _args(tiny_profile)) == 1
        assert message in capsys.readouterr().err and not out.exists()


def test_malformed_items_get_their_own_error_and_the_rest_run(tiny_profile, tmp_path):
    good = {"audio_id": "a.wav", "instruction": "What?", "input": "words"}
    items = _items(tmp_path, [{"audio_id": 7, "instruction": "What?"}, {"audio_id": True, "instruction": "What?"},
                              {"audio_id": ["a.wav"], "instruction": "What?"}, {"audio_id": "a.wav", "instruction": 3},
                              {"audio_id": "a.wav", "instruction": "What?", "input": 12},
                              {"audio_id": "a.wav", "instruction": "What?", "input": {"text": "x"}}, "a.wav", good])
    out = tmp_path / "out.json"
    assert main(["batch", "--input", str(items), "--output", str(out)] + _args(tiny_profile)) == 3
    rows = json.loads(out.read_text())
    assert len(rows) == 8 and all("error" in r and "pending" not in r for r in rows[:7])
    assert "`audio_id` must be a file name" in rows[0]["error"] and rows[0]["audio_id"] == 7
    assert "`input` must be the transcript" in rows[4]["error"] and "not an object" in rows[6]["error"]
    assert "pred" in rows[7] and rows[7]["input"] == "words"


def test_only_malformed_items_never_load_the_model(tiny_profile, tmp_path, no_model):
    items = _items(tmp_path, [{"audio_id": 1, "instruction": "What?"}])
    out = tmp_path / "out.json"
    assert main(["batch", "--input", str(items), "--output", str(out)] + _args(tiny_profile)) == 3
    assert "error" in json.loads(out.read_text())[0]


def test_stale_temporaries_are_removed_and_results_follow_the_umask(tiny_profile, tmp_path):
    items = _items(tmp_path, ONE)
    out = tmp_path / "out.json"
    stale = tmp_path / "out.json.1a2b3c4d.tmp"
    stale.write_text("[")  # left by a run killed while writing
    other = tmp_path / "other.json.1a2b3c4d.tmp"
    other.write_text("[")
    old = os.umask(0o022)
    try:
        assert main(["batch", "--input", str(items), "--output", str(out)] + _args(tiny_profile)) == 0
    finally:
        os.umask(old)
    assert not stale.exists() and other.exists()
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert json.loads(out.read_text())[0]["ref"] == "the reference"


class _Listener:
    """Hears each clip and answers at once, so the test measures the batch runner's own memory."""

    window_seconds = 10.0

    def __init__(self):
        from ltu_desktop.engine.types import Answer, Stats

        self.last_answer = Answer("ok", [1], False, Stats(), "", "x")
        self.memory: list[float] = []

    def prepare(self, audio, window, transcript=None):
        from ltu_desktop.engine.engine import memory_mb

        self.memory.append(memory_mb())
        return audio

    def answer(self, clip, question, transcript=None, settings=None):
        yield "ok"


def test_memory_stays_flat_over_many_distinct_clips(tmp_path):
    """Each clip is a minute (3.8 MB decoded): keeping them all would grow by about 150 MB."""
    from ltu_desktop.batch import runner
    from ltu_desktop.engine.types import GenerationSettings

    rng = np.random.default_rng(0)
    items = []
    for i in range(40):
        sf.write(str(tmp_path / f"{i}.wav"), (rng.standard_normal(16000 * 60) * 0.1).astype(np.float32), 16000,
                 subtype="PCM_16")
        items.append({"audio_id": f"{i}.wav", "instruction": "What?", "input": "x"})
    (tmp_path / "items.json").write_text(json.dumps(items))
    engine = _Listener()
    assert runner.run_batch(engine, tmp_path / "items.json", tmp_path / "out.json", GenerationSettings(),
                            quiet=True) == 0
    grew = engine.memory[-1] - engine.memory[20]
    assert grew < 40, f"memory grew by {grew:.0f} MB over the last 20 clips"


def test_engine_caches_are_bounded_by_bytes(tiny_engine, monkeypatch):
    from ltu_desktop.audio.io import from_array
    from ltu_desktop.engine.lru import LRU
    from ltu_desktop.engine.types import GenerationSettings, Transcript

    engine = tiny_engine
    monkeypatch.setattr(engine, "_features", LRU(1))
    monkeypatch.setattr(engine, "_prefixes", LRU(1))
    rng = np.random.default_rng(1)
    for _ in range(3):
        clip = engine.prepare(from_array((rng.standard_normal(16000 * 2) * 0.1).astype(np.float32)),
                              transcript=Transcript("x"))
        list(engine.answer(clip, "What?", settings=GenerationSettings(temperature=0, max_new_tokens=1)))
    assert len(engine._features) == len(engine._prefixes) == 1
    assert engine._prefixes.bytes > 0 and engine._features.bytes > 0
