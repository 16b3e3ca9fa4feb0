"""Names and numbers an answer adds that the transcript never said (issue 14, item 13)."""

from __future__ import annotations

from pathlib import Path

from ltu_desktop.engine.grounding import ungrounded

SAMPLE = (Path(__file__).resolve().parents[2] / "resources" / "sample_meeting.txt").read_text()


def _marked(answer: str) -> list[str]:
    return [m.text for m in ungrounded(answer, SAMPLE)]


def test_invented_phone_number_language_and_prices_are_marked():
    assert _marked("Call Maria at 555-1234; the message is in Spanish.") == ["555-1234", "Spanish"]
    assert _marked("Tickets cost 20 dollars each, so five tickets cost 100.") == ["20", "five", "100"]
    assert _marked("It is on Friday, says Pedro.") == ["Friday", "Pedro"]
    assert _marked("Room 12 of the 4th floor of the 5th floor hotel.") == ["5th"]


def test_what_was_said_is_not_marked_whether_in_digits_or_words():
    assert _marked("Maria Lopez says the meeting is on Thursday at 3:30 pm in room 12 on the 4th floor.") == []
    assert _marked("Bring the sales report. Travel costs must be cut by 8%.") == []
    assert _marked("Twelve, on the fourth floor, at three thirty.") == []


def test_marks_point_at_the_answer_text():
    answer = "The meeting is on Friday."
    (mark,) = ungrounded(answer, SAMPLE)
    assert answer[mark.start:mark.end] == "Friday" and mark.kind == "name"
    assert ungrounded("", SAMPLE) == [] and ungrounded("Nothing to see.", "") == []
