"""The transcript text that becomes the prompt's Input: the authors' hallucination filter, to the letter."""

from __future__ import annotations

import pytest

from ltu_desktop.engine.transcribe import strip_hallucinations


@pytest.mark.parametrize("said", ["thanks for watching", "Thanks for watching!", "THANK YOU FOR WATCHING.",
                                  "Thank you for watching"])
def test_the_thanks_for_watching_family_is_removed(said):
    assert strip_hallucinations(f"The meeting is at ten. {said}") == "The meeting is at ten. "


def test_only_the_authors_casings_are_removed_and_nothing_is_stripped_beyond_them():
    # The authors' list has three casings; others stay, as does surrounding whitespace, so that the
    # prompt matches theirs token for token.
    assert strip_hallucinations("Thanks For Watching") == "Thanks For Watching"
    assert strip_hallucinations("Thanks for watching!! ") == "! "
    assert strip_hallucinations(" a dog barks ") == " a dog barks "
