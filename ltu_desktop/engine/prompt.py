"""Prompts: LTU-AS's `alpaca_short` template, and the demo profile's chat-template prompt."""

from __future__ import annotations

ALPACA_HEAD = "### Instruction:\n"
RESPONSE_MARK = "### Response:\n"


def alpaca_short(question: str, transcript: str | None) -> str:
    """The authors' template: an empty or absent transcript selects the no-input form."""
    if transcript:
        return f"{ALPACA_HEAD}{question}\n\n### Input:\n{transcript}\n\n{RESPONSE_MARK}"
    return f"{ALPACA_HEAD}{question}\n\n{RESPONSE_MARK}"


def demo_user_message(question: str, transcript: str) -> str:
    """Short on purpose: a 135M model answers better from a brief quote than from a long system prompt. It is
    asked to answer from the recording only and to say when the recording does not say; what it still invents
    (names, numbers) is marked afterwards by `grounding.ungrounded`.

    The transcript comes first so that its tokens are a prefix shared by every question about a clip.
    """
    return (f'A recording says: "{transcript.strip()}"\n\n{question.strip()} Answer briefly from the recording; '
            'if it does not say, say "It does not say."')


NO_SPEECH_ANSWER = (
    "I can't answer that from this clip: there is no speech in it to go on. The demo profile answers only "
    "from what is said (it does not hear other sounds). Load the LTU-AS checkpoints to ask about sounds."
)
