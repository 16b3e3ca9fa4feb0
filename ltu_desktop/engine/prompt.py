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
    """Short on purpose: a 135M model answers better from a brief quote than from any instruction. Asked to
    answer only from the recording and to say when it does not say, it invented more (a "marketing company's
    website", greedy, sample clip), so what it invents (names, numbers) is marked afterwards instead, by
    `grounding.ungrounded`.

    The transcript comes first so that its tokens are a prefix shared by every question about a clip.
    """
    return (f'A recording says: "{transcript.strip()}"\n\n{question.strip()} Answer briefly.')


NO_SPEECH_ANSWER = (
    "I can't answer that from this clip: there is no speech in it to go on. The demo profile answers only "
    "from what is said (it does not hear other sounds). Load the LTU-AS checkpoints to ask about sounds."
)
