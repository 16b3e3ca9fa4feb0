"""`ltu-desktop eval` end to end on a small labelled set made here, with the tiny model and a tiny local BERT."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.cli import main
from ltu_desktop.evaluation.scoring import TextEmbedder, score
from ltu_desktop.evaluation.tasks import TASKS


def _model(profile):
    return ["--llm", str(profile.llm), "--adapter", str(profile.adapter), "--whisper", str(profile.feature_whisper),
            "--asr-whisper", str(profile.asr_whisper), "--device", "cpu", "--quiet", "--temperature", "0",
            "--max-new-tokens", "5"]


@pytest.fixture(scope="module")
def sounds(tmp_path_factory):
    """Tones (church bells), noise (rain) and a chirp (birds), with the transcripts given as the authors' files do."""
    folder = tmp_path_factory.mktemp("sounds")
    t = np.arange(16000 * 3) / 16000
    rng = np.random.default_rng(7)
    clips = {"bell1.wav": 0.4 * np.sin(2 * np.pi * 660 * t) * np.exp(-t),
             "bell2.wav": 0.4 * np.sin(2 * np.pi * 880 * t),
             "rain1.wav": 0.2 * rng.standard_normal(t.size), "rain2.wav": 0.1 * rng.standard_normal(t.size),
             "birds.wav": 0.3 * np.sin(2 * np.pi * (2000 + 1500 * np.sin(8 * t)) * t)}
    for name, x in clips.items():
        sf.write(str(folder / name), x.astype(np.float32), 16000)
    labels = {"bell": "church_bells", "rain": "rain", "bird": "chirping_birds"}
    items = [{"audio_id": name, "input": "", "output": "Label: " + labels[name[:4].rstrip("12s")]}
             for name in clips]
    (folder / "esc.json").write_text(json.dumps(items))
    return folder


def test_eval_esc50_scores_writes_reports_and_resumes(tiny_profile, tiny_bert, sounds, tmp_path, monkeypatch):
    bert = tiny_bert
    out = tmp_path / "results"
    args = ["eval", "--task", "esc50", "--data", str(sounds / "esc.json"), "--output", str(out),
            "--scorer", str(bert)] + _model(tiny_profile)
    assert main(args) == 0
    result = json.loads((out / "esc50.json").read_text())
    rows = json.loads((out / "esc50_predictions.json").read_text())
    assert len(rows) == 5 and all(r["instruction"] == TASKS["esc50"].prompt and "pred" in r for r in rows)
    assert [r["ref"] for r in rows][:2] == ["Label: church_bells"] * 2
    again = score(TASKS["esc50"], rows, TASKS["esc50"].labels(), TextEmbedder(bert))
    assert result["metrics"] == pytest.approx(again.metrics) and set(result["metrics"]) == {"accuracy", "mAP"}
    assert result["counts"] == {"items": 5, "answered": 5, "failed": 0}
    assert result["paper"] == {"metric": "accuracy", "value": 76.6, "source": "LTU-AS paper (Gong et al., ASRU 2023)"}
    md = (out / "esc50.md").read_text()
    assert "| ESC-50 sound events | accuracy (%) |" in md and "| 76.6 |" in md

    import ltu_desktop.engine.engine as eng

    monkeypatch.setattr(eng.Engine, "answer", lambda *a, **k: pytest.fail("a finished item was asked again"))
    assert main(args + ["--resume"]) == 0
    assert json.loads((out / "esc50_predictions.json").read_text()) == rows


def test_eval_gender_on_espeak_voices(tiny_profile, tmp_path, capsys):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (scripts/setup.sh --test installs it)")
    items = []
    for voice, gender in (("en+m3", "male"), ("en+f3", "female"), ("en+f4", "female")):
        wav = tmp_path / f"{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), "the meeting is on monday"], check=True)
        items.append({"audio_id": wav.name, "input": "the meeting is on monday",
                      "output": f"Speaker gender: {gender}."})
    (tmp_path / "gender.json").write_text(json.dumps(items))
    assert main(["eval", "--task", "gender", "--data", str(tmp_path / "gender.json"), "--output", str(tmp_path / "r")]
                + _model(tiny_profile)) == 0
    result = json.loads((tmp_path / "r" / "voxceleb_gender.json").read_text())
    assert [i["truth"] for i in result["items"]] == ["male", "female", "female"]
    assert set(result["metrics"]) == {"macro_f1", "accuracy"} and "| 90.8 |" in capsys.readouterr().out


def test_feature_files_give_the_answers_audio_gives(tiny_profile, tiny_engine, tiny_bert, sounds, tmp_path):
    """Features saved from the same audio (as the authors' downloads are) stand in for the audio, in eval and batch."""
    from ltu_desktop.audio.io import load_audio

    feats = tmp_path / "feats"
    feats.mkdir()
    for wav in sounds.glob("*.wav"):
        np.savez_compressed(feats / (wav.stem + ".npz"), tiny_engine.prepare(load_audio(wav)).features.numpy())
    common = ["--task", "esc50", "--data", str(sounds / "esc.json"), "--labels", str(tmp_path / "labels.txt"),
              "--scorer", str(tiny_bert)]
    (tmp_path / "labels.txt").write_text("church_bells\nrain\nchirping_birds\n")
    assert main(["eval", *common, "--output", str(tmp_path / "audio")] + _model(tiny_profile)) == 0
    assert main(["eval", *common, "--output", str(tmp_path / "feats-out"), "--features", str(feats)]
                + _model(tiny_profile)) == 0
    a = json.loads((tmp_path / "audio" / "esc50_predictions.json").read_text())
    f = json.loads((tmp_path / "feats-out" / "esc50_predictions.json").read_text())
    assert [r["pred_ids"] for r in a] == [r["pred_ids"] for r in f] and all(r["pred_ids"] for r in a)
    scores = [json.loads((tmp_path / d / "esc50.json").read_text()) for d in ("audio", "feats-out")]
    assert scores[0]["metrics"] == scores[1]["metrics"]
    assert scores[0]["labels"] == ["church_bells", "rain", "chirping_birds"]

    items = [{"audio_id": str(feats / "rain1.npz"), "instruction": "What is it?", "input": "x"},
             {"audio_id": str(feats / "rain1.npz"), "instruction": "What is it?"},
             {"audio_id": str(sounds / "esc.json"), "instruction": "What is it?", "input": "x"},
             {"audio_id": "bad.npz", "instruction": "What is it?", "input": "x"}]
    np.savez(tmp_path / "bad.npz", np.zeros((2, 3), np.float32))
    (tmp_path / "items.json").write_text(json.dumps(items))
    code = main(["batch", "--input", str(tmp_path / "items.json"), "--output", str(tmp_path / "b.json")]
                + _model(tiny_profile))
    rows = json.loads((tmp_path / "b.json").read_text())
    assert code == 3 and "pred" in rows[0] and rows[0]["input"] == "x"
    assert "give the item an `input`" in rows[1]["error"] and "error" in rows[2]
    assert "features of shape [2, 3], but this model takes [3, 25, 64]" in rows[3]["error"]
