"""Answers marked "use for training" in the chat: the correction is kept beside the model's answer, survives a
restart, goes with its conversation, and the marked ones come back as fine-tuning items."""

from __future__ import annotations

from pathlib import Path

from ltu_desktop.store.history import History


def _answered(h: History, folder: Path, answers: list[str]) -> tuple[int, list[int]]:
    audio = folder / "hum.wav"
    audio.write_bytes(b"RIFF....WAVE")
    conv = h.new_conversation(h.add_clip(audio, "hash-hum", 4.0))
    ids = []
    for n, answer in enumerate(answers):
        mid = h.ask(conv, f"Question {n}?", "a transcript", (1.0, 4.0), "tiny", "cpu", "fp32", {})
        h.finish(mid, answer, "complete")
        ids.append(mid)
    return conv, ids


def test_a_correction_is_kept_beside_the_answer_across_a_restart(tmp_path):
    with History(tmp_path / "data") as h:
        _, (first, second, third) = _answered(h, tmp_path, ["A hum.", "A beep.", "A dog."])
        h.mark_for_training(first, correction="  A fridge hums.  ")
        h.mark_for_training(second, correction="A beep.")  # the answer as it was: no correction
        h.mark_for_training(third, correction="A cat.")
        h.mark_for_training(third, use=False, correction="A cat.")  # unmarked, keeping the correction for later
    with History(tmp_path / "data") as h:
        marks = h.training_marks()
        assert (marks[first].correction, marks[first].use) == ("A fridge hums.", True)
        assert (marks[second].correction, marks[second].use) == (None, True)
        assert (marks[third].correction, marks[third].use) == ("A cat.", False)
        assert h.message(first).answer == "A hum."  # the model's answer is never rewritten
        assert set(h.training_marks([first, 999])) == {first} and h.training_marks([]) == {}
        items = h.training_items()
        assert [(i.message_id, i.output, i.answer, i.window, i.file_exists) for i in items] == [
            (first, "A fridge hums.", "A hum.", (1.0, 4.0), True), (second, "A beep.", "A beep.", (1.0, 4.0), True)]
        assert items[0].question == "Question 0?" and items[0].transcript_used == "a transcript"


def test_marks_go_with_their_conversation(tmp_path):
    with History(tmp_path / "data") as h:
        conv, (mid,) = _answered(h, tmp_path, ["A hum."])
        h.mark_for_training(mid, correction="A fridge.")
        h.delete_conversation(conv)
        assert h.training_marks() == {} and h.training_items() == []
