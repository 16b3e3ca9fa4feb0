"""Scoring against values computed by hand, including the authors' label-mapping rule on ambiguous answers."""

from __future__ import annotations

import numpy as np
import pytest

from ltu_desktop.engine.types import EngineError
from ltu_desktop.evaluation.scoring import (LabelMapper, TextEmbedder, accuracy, macro_f1, mean_average_precision,
                                            parse_age, score, word_error_rate)
from ltu_desktop.evaluation.tasks import TASKS, read_labels, task_by_name

VECTORS = {"sound of dog": [1, 0, 0], "sound of cat": [0, 1, 0], "sound of rooster": [0, 0, 1],
           "sound of a dog and a cat": [1, 1, 0], "sound of a crowing bird": [0.1, 0.2, 0.9],
           "x": [0.6, 0.8, 0], "y": [0, 0.6, 0.8]}


def fake_embed(texts):
    return np.array([VECTORS[t] for t in texts], dtype=float)


def test_classification_metrics_by_hand():
    truth, pred = [0, 0, 1, 2], [0, 1, 1, 1]
    assert accuracy(truth, pred) == 0.5
    # F1 per class: 0 -> 2/3, 1 -> 1/2, 2 -> 0 (never predicted); class 3 occurs in neither list.
    assert macro_f1(truth, pred) == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)
    # AP of 0/1 predictions: r*p + (1-r)*share. Class 0: .5*1 + .5*.5; 1: 1*(1/3); 2: 0 + 1*.25; 3: no true item.
    assert mean_average_precision(truth, pred, 4) == pytest.approx((0.75 + 1 / 3 + 0.25 + 0) / 4)


def test_label_mapping_exact_first_then_summed_cosine_first_on_ties():
    mapper = LabelMapper(["dog", "cat", "rooster"], "sound of ", fake_embed)
    assert mapper(mapper.answer_parts("Cat!")) == 1  # exact label after the authors' normalization
    assert mapper(mapper.answer_parts("A crowing bird.")) == 2  # nearest by cosine
    assert mapper(mapper.answer_parts("A dog, and a cat.")) == 0  # a tie goes to the first label, like argmax
    assert mapper(["x", "y"]) == 1  # parts add up: dog .6, cat .8+.6, rooster .8

    def no_model(texts):
        raise AssertionError("an exact label must not need the embedding model")

    exact = LabelMapper(["dog", "cat"], "sound of ", no_model)
    assert exact(exact.answer_parts("Dog.")) == 0
    with pytest.raises(EngineError, match="--scorer"):
        LabelMapper(["dog"], "sound of ", None)(["sound of a wolf"])


def test_task_scores_from_rows():
    esc = TASKS["esc50"]
    rows = [{"pred": "Dog.", "ref": "dog"}, {"pred": "Audio caption: a crowing bird", "ref": "rooster"},
            {"pred": "cat", "ref": "Label:dog"}, {"error": "no such file", "ref": "cat"}]
    s = score(esc, rows, ["dog", "cat", "rooster"], fake_embed)
    assert s.counts == {"items": 4, "answered": 3, "failed": 1}
    assert s.metrics["accuracy"] == pytest.approx(200 / 3)
    assert [i["pred_label"] for i in s.items] == ["dog", "rooster", "cat"]
    with pytest.raises(EngineError, match="not in the esc50 label set: wolf"):
        score(esc, [{"pred": "dog", "ref": "wolf"}], ["dog", "cat"], fake_embed)

    gender = score(TASKS["voxceleb_gender"], [
        {"pred": "The speaker is female.", "ref": "Female"}, {"pred": "A woman.", "ref": "male"},
        {"pred": "male", "ref": "female speaker"}, {"pred": "Male", "ref": "Male."}])
    # truth f,m,f,m; pred f,m,m,m ("woman" is not "female", as in their rule): F1 female 2/3, male 4/5.
    assert gender.metrics == pytest.approx({"macro_f1": 100 * (2 / 3 + 4 / 5) / 2, "accuracy": 75.0})

    age = score(TASKS["voxceleb_age"], [{"pred": "Around 30-40 years old.", "ref": "The speaker is 45."},
                                        {"pred": "I think 52", "ref": "Age: 59."},
                                        {"pred": "Hard to say.", "ref": "30"}])
    assert age.metrics == {"mae": pytest.approx(8.5)} and age.counts["unparsed"] == 1

    asr = score(TASKS["librispeech"], [{"pred": "Spoken text: he paid $25", "ref": "He paid twenty five dollars."},
                                       {"pred": "the cat sat down", "ref": "THE CAT SAT"}])
    assert asr.metrics == {"wer": pytest.approx(100 / 6)}  # one insertion over six normalized reference words


def test_age_and_wer_helpers():
    assert parse_age("between 20-31 or 40") == 25.5 and parse_age("no number") is None
    assert parse_age("aged 20 to 30", first=False) == 30
    assert word_error_rate(["Mr. Smith", ""], ["mister smith", "anything"]) == 0.0


def test_label_files_and_task_names(tmp_path):
    assert len(TASKS["esc50"].labels()) == 50 and TASKS["esc50"].labels()[:2] == ["dog", "rooster"]
    assert TASKS["gtzan"].labels()[0] == "Hip-Hop" and len(TASKS["iemocap"].labels()) == 4
    (tmp_path / "l.csv").write_text('index,mid,display_name\n0,/m/1,"Speech"\n1,/m/2,"Dog, barking"\n')
    assert read_labels(tmp_path / "l.csv") == ["Speech", "Dog, barking"]
    assert task_by_name("ESC-50") is TASKS["esc50"] and task_by_name("gender").name == "voxceleb_gender"
    with pytest.raises(EngineError, match="Unknown task"):
        task_by_name("imagenet")


def test_text_embedder_is_the_mean_of_the_last_hidden_states(tiny_bert, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = tiny_bert
    texts = ["sound of dog", "sound of a crowing rooster and the cat"]
    got = TextEmbedder(folder)(texts)
    tok, model = AutoTokenizer.from_pretrained(str(folder)), AutoModel.from_pretrained(str(folder)).eval()
    for text, vector in zip(texts, got):
        with torch.no_grad():
            want = model(**tok(text, return_tensors="pt")).last_hidden_state[0].mean(0)
        np.testing.assert_allclose(vector, want.numpy(), atol=1e-5)
    with pytest.raises(EngineError, match="not a folder"):
        TextEmbedder(tmp_path / "missing")
