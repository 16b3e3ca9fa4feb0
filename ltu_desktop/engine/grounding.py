"""Names and numbers in an answer that the transcript does not contain: a cheap check against invented facts.

A model that reads a transcript (the demo's 135M LLM above all) sometimes adds a phone number, a price or a
language that nobody said. Nothing here judges meaning: a capitalised word or a number in the answer is
"grounded" when the transcript has it too, with numbers compared by value ("3:30" matches "three thirty",
"8%" matches "eight percent"). Pure Python, so the app, the CLI and exports all mark the same spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
          "seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_UNITS)} | _TENS | _ORDINALS | _SCALES | {"half": 2}
# Capitalised words that are not facts: pronouns, greetings and the words a chat model starts sentences with.
_NOT_NAMES = {"i", "i'm", "i'll", "i've", "i'd", "ok", "okay", "yes", "no", "hello", "hi", "a", "an", "the",
              "am", "pm", "a.m", "p.m"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-.]*[A-Za-z]|[A-Za-z]")
_DIGITS = re.compile(r"\d+(?:[.,:\-]\d+)*(?:st|nd|rd|th)?")  # "5th" is marked whole, compared as 5


@dataclass(frozen=True)
class Mark:
    """`text` at answer[start:end] is a name or a number that the transcript does not contain."""

    start: int
    end: int
    text: str
    kind: str  # "name" | "number"


def _number_values(text: str) -> set[int]:
    """Every number in a text by value, from digits and from words (also each part of "thirty five")."""
    values = {v for m in _DIGITS.finditer(text) for v in _digit_values(m.group())}
    words = [w.lower().strip("'’-.") for w in _WORD.findall(text)]
    run: list[int] = []
    for w in [*words, ""]:
        parts = [NUMBER_WORDS.get(p) for p in w.split("-")] if w else [None]
        if w and all(p is not None for p in parts):
            run += parts
            values.update(parts)
            continue
        if len(run) > 1:  # "thirty five" -> 35, "two hundred" -> 200
            total = 0
            for v in run:
                total = total * v if v in _SCALES.values() and total else total + v
            values.add(total)
        run = []
    return values


def _digit_values(number: str) -> set[int]:
    """"3:30" -> {3, 30}; "5th" -> {5}."""
    return {int(p) for p in re.split(r"[.,:\-]", re.sub(r"[a-z]+$", "", number)) if p}


def _words(text: str) -> set[str]:
    return {w.lower().strip("'’-.").removesuffix("'s").removesuffix("’s") for w in _WORD.findall(text)}


def ungrounded(answer: str, transcript: str) -> list[Mark]:
    """The names and numbers of `answer` that `transcript` lacks, in order of appearance."""
    if not answer.strip():
        return []
    heard_words, heard_numbers = _words(transcript), _number_values(transcript)
    marks: list[Mark] = []
    for m in _DIGITS.finditer(answer):
        if not _digit_values(m.group()) <= heard_numbers:
            marks.append(Mark(m.start(), m.end(), m.group(), "number"))
    for m in _WORD.finditer(answer):
        word = m.group().rstrip(".")
        key = word.lower().strip("'’-").removesuffix("'s").removesuffix("’s")
        if key in NUMBER_WORDS:
            if NUMBER_WORDS[key] not in heard_numbers and key not in ("half", "first", "second"):
                marks.append(Mark(m.start(), m.start() + len(word), word, "number"))
            continue
        if not word[0].isupper() or key in _NOT_NAMES or key in heard_words:
            continue
        before = answer[:m.start()].rstrip()
        if not before or before[-1] in '.!?:"“\n':
            continue  # "Bring ..." opens a sentence: its capital says nothing
        marks.append(Mark(m.start(), m.start() + len(word), word, "name"))
    return sorted(marks, key=lambda k: k.start)
