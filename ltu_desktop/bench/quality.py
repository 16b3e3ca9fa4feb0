"""How closely a rounded or quantized engine follows fp32: greedy answers compared token by token.

Two numbers per precision. Free-running agreement compares the two greedy answers position by
position, which is what a person sees, but one early flip changes everything after it. Forced
agreement feeds the fp32 answer to the other engine and counts the positions where it would have
picked the same token: the rounding's own effect, one position at a time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..audio.io import Audio
from ..engine.engine import Engine
from ..engine.types import GenerationSettings, Transcript


@dataclass(frozen=True)
class Agreement:
    precision: str
    questions: int
    first_token: float  # share of questions whose answers start with the same token
    free_running: float  # matching positions / length of the longer answer, over all questions
    forced: float  # positions of the fp32 answer where the other engine picks the same token

    def to_dict(self) -> dict:
        return asdict(self)


def agreement(reference: Engine, other: Engine, audio: Audio, questions: list[str], transcript: str,
              max_new_tokens: int = 24) -> Agreement:
    """Both engines hear the same audio window and get the same transcript, so only precision differs."""
    s = GenerationSettings(temperature=0.0, max_new_tokens=max_new_tokens)
    clips = {id(e): e.prepare(audio, transcript=Transcript(transcript)) for e in (reference, other)}

    def greedy(engine: Engine, question: str) -> list[int]:
        for _ in engine.answer(clips[id(engine)], question, transcript=transcript, settings=s):
            pass
        return engine.last_answer.token_ids

    first = same = longer = forced = forced_total = 0
    for q in questions:
        ref, ids = greedy(reference, q), greedy(other, q)
        first += ref[:1] == ids[:1]
        same += sum(a == b for a, b in zip(ref, ids))
        longer += max(len(ref), len(ids), 1)
        picks = other.forced_choices(clips[id(other)], q, ref, transcript=transcript, settings=s)
        forced += sum(a == b for a, b in zip(picks, ref))
        forced_total += len(ref)
    n = max(len(questions), 1)
    return Agreement(other.precision, len(questions), round(first / n, 3), round(same / max(longer, 1), 3),
                     round(forced / max(forced_total, 1), 3))
