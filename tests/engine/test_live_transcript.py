"""A recording transcribed while it grows: settled segments stay, Stop transcribes only the rest."""

from __future__ import annotations

import numpy as np
import pytest

from ltu_desktop.audio.io import SAMPLE_RATE, Audio
from ltu_desktop.engine.live_transcript import LiveTranscript
from ltu_desktop.engine.types import Segment, Transcript

WORDS = {300: "red", 450: "green", 600: "blue", 750: "white", 900: "black", 1050: "gold"}
WORD_S, GAP_S, PAUSE_S = 0.4, 0.15, 0.9


def beeps(sentences: list[list[str]]) -> np.ndarray:
    """Each word a tone (its own pitch), short gaps inside a sentence, a pause between sentences."""
    pitch = {w: f for f, w in WORDS.items()}
    t = np.arange(int(WORD_S * SAMPLE_RATE)) / SAMPLE_RATE
    out = [np.zeros(int(0.5 * SAMPLE_RATE))]
    for sentence in sentences:
        for word in sentence:
            out += [0.3 * np.sin(2 * np.pi * pitch[word] * t), np.zeros(int(GAP_S * SAMPLE_RATE))]
        out.append(np.zeros(int(PAUSE_S * SAMPLE_RATE)))
    return np.concatenate(out).astype(np.float32)


class BeepWhisper:
    """Hears the beeps as Whisper hears speech: a segment per sentence, a word cut off at the end garbled."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, audio: Audio) -> Transcript:
        self.calls.append(audio.duration)
        hop = SAMPLE_RATE // 100
        x = audio.samples[: len(audio.samples) // hop * hop].reshape(-1, hop)
        loud = np.sqrt((x ** 2).mean(axis=1)) > 0.05
        edges = np.flatnonzero(np.diff(np.r_[0, loud.astype(int), 0]))
        words = list(zip(edges[::2] / 100, edges[1::2] / 100))
        segments, current = [], []
        for i, (a, b) in enumerate(words):
            piece = audio.samples[int(a * SAMPLE_RATE):int(b * SAMPLE_RATE)]
            f = np.argmax(np.abs(np.fft.rfft(piece))) * SAMPLE_RATE / len(piece)
            whole = b - a > WORD_S - 0.03
            current.append((a, b, WORDS[min(WORDS, key=lambda p: abs(p - f))] if whole else "mumble"))
            if i + 1 == len(words) or words[i + 1][0] - b > PAUSE_S / 2:
                segments.append(Segment(round(current[0][0], 2), round(current[-1][1], 2),
                                        " ".join(w for *_, w in current).capitalize() + "."))
                current = []
        return Transcript(" ".join(s.text for s in segments), tuple(segments), "en", not segments)


SENTENCES = [["red", "green", "blue"], ["white", "black"], ["gold", "red", "green", "white"], ["blue", "blue"],
             ["black", "gold", "red"], ["green", "white"], ["red", "black", "gold", "blue"], ["white", "red"]]


def test_settled_segments_stay_and_stop_transcribes_only_the_rest():
    samples = beeps(SENTENCES * 2)
    whole = BeepWhisper()(Audio(samples))
    whisper = BeepWhisper()
    kept: list = []
    live = LiveTranscript(whisper, lambda audio, t: kept.append((audio, t)))
    settled_before: tuple = ()
    for seconds in np.arange(4.0, len(samples) / SAMPLE_RATE, 3.7):  # about every 4 s, cutting words anywhere
        so_far = Audio(samples[:int(seconds * SAMPLE_RATE)])
        shown = live.update(so_far)
        assert tuple(live.settled[:len(settled_before)]) == settled_before  # never taken back
        settled_before = tuple(live.settled)
        assert all(s.end <= seconds - live.settle_s for s in live.settled)
        assert shown[:len(live.settled)] == settled_before and "mumble" not in " ".join(s.text for s in live.settled)
        cut = int(live.cut * SAMPLE_RATE)
        assert not np.any(samples[cut - 160:cut + 160])  # cut in a pause, never in a word
    assert len(live.settled) >= len(SENTENCES) * 2 - 3
    last_update = len(whisper.calls)
    audio = Audio(samples)
    final = live.finish(audio)
    assert final.text == whole.text and not final.no_speech and final.language == "en"
    assert [s.text for s in final.segments] == [s.text for s in whole.segments]
    assert np.allclose([(s.start, s.end) for s in final.segments], [(s.start, s.end) for s in whole.segments],
                       atol=0.02)
    assert whisper.calls[last_update:] == [pytest.approx(len(samples) / SAMPLE_RATE - live.cut, abs=0.01)]
    assert whisper.calls[-1] < 8  # only the rest
    assert kept == [(audio, final)]


def test_a_boundary_inside_sound_settles_nothing():
    """Whisper may end a segment mid-phrase; without a pause there, a cut could split a word: wait for one."""
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(12 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    halves = Transcript("One. Two.", (Segment(0.0, 5.0, "One."), Segment(5.0, 12.0, "Two.")), "en", False)
    live = LiveTranscript(lambda audio: halves)
    assert live.update(Audio(tone)) == halves.segments and live.settled == [] and live.cut == 0.0


def test_a_take_stopped_before_any_update_is_transcribed_whole():
    samples = beeps(SENTENCES[:2])
    whisper = BeepWhisper()
    final = LiveTranscript(whisper).finish(Audio(samples))
    assert final.text == "Red green blue. White black." and whisper.calls == [len(samples) / SAMPLE_RATE]


def test_silence_stays_no_speech():
    live = LiveTranscript(BeepWhisper())
    silence = np.zeros(8 * SAMPLE_RATE, np.float32)
    assert live.update(Audio(silence[:5 * SAMPLE_RATE])) == ()
    assert live.finish(Audio(silence)).no_speech


@pytest.mark.slow
def test_spoken_take_transcribed_live_reads_like_one_whole_run(demo_whisper, tmp_path):
    """tiny.en on 35 s of espeak-ng speech, updated every 6 s as a recording would be: as good as one run over
    the whole take (tiny.en's slips differ between any two cuts of the audio, so it is scored on what was said)."""
    import torch
    from test_transcript_stream import SENTENCES, spoken

    from ltu_desktop.evaluation.scoring import word_error_rate
    from ltu_desktop.engine.transcribe import Transcriber

    speech = spoken(tmp_path)
    asr = Transcriber(demo_whisper, torch.device("cpu"))
    sizes: list[float] = []

    def run(audio: Audio) -> Transcript:
        sizes.append(audio.duration)
        return asr.run(audio)

    live = LiveTranscript(run)
    for seconds in np.arange(6.0, speech.duration, 6.0):
        live.update(Audio(speech.samples[:int(seconds * SAMPLE_RATE)]))
        assert live.settled and live.settled[-1].end <= seconds - live.settle_s
    final = live.finish(speech)
    assert sizes[-1] < 12  # Stop waits for a short rest, not the whole take
    whole = asr(speech)
    said = " ".join(SENTENCES)
    live_error, whole_error = word_error_rate([said], [final.text]), word_error_rate([said], [whole.text])
    assert live_error <= whole_error + 0.05, (whole.text, final.text)
    assert len(live.settled) >= 6 and word_error_rate([whole.text], [final.text]) <= 0.2
    assert [s.start for s in final.segments] == sorted(s.start for s in final.segments)
