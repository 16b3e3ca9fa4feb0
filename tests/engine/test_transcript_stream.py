"""Segments stream as each 30 s window is decoded, and they are exactly openai-whisper's transcript."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from ltu_desktop.audio.io import from_array, load_audio

SENTENCES = [
    "The meeting starts at nine in the morning.", "Please bring the quarterly report.",
    "We will talk about the budget for next year.", "Anna will present the new design.",
    "After lunch the team visits the factory.", "The bus leaves from the main entrance.",
    "Do not forget your safety shoes.", "We should be back by five o'clock.",
    "The weather forecast says it will rain.", "So bring an umbrella and a warm coat.",
]


def spoken(folder, sentences=SENTENCES, pause_s: float = 0.8):
    """espeak-ng reads each sentence; pauses between them, as a person leaves when speaking."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    pieces = []
    for i, sentence in enumerate(sentences):
        wav = folder / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), sentence], check=True, capture_output=True)
        pieces += [load_audio(wav).samples, np.zeros(int(pause_s * 16_000), np.float32)]
    return from_array(np.concatenate(pieces), 16_000, "speech")


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory):
    audio = spoken(tmp_path_factory.mktemp("speech"))
    assert audio.duration > 31  # more than one 30 s window
    return audio


@pytest.mark.slow
def test_streamed_segments_are_openai_whispers_transcript(demo_whisper, long_speech):
    import torch
    import whisper

    from ltu_desktop.engine.transcribe import Transcriber

    asr = Transcriber(demo_whisper, torch.device("cpu"))
    streamed: list = []
    transcript = asr(long_speech, streamed.append)
    theirs = whisper.transcribe(asr.model, long_speech.samples, fp16=False, language="en", verbose=None)
    assert tuple(streamed) == transcript.segments
    assert [(s.start, s.end, s.text) for s in streamed] == [(s["start"], s["end"], s["text"].strip())
                                                            for s in theirs["segments"]]
    assert transcript.text == theirs["text"].lstrip() and "quarterly report" in transcript.text
    assert len({s["seek"] for s in theirs["segments"]}) >= 2  # two 30 s windows at least
    again: list = []
    assert asr(long_speech, again.append) is transcript and again == streamed  # cached: handed over at once


def test_a_repeating_whisper_takes_the_same_fallbacks_as_openai_whisper():
    """A decoder that repeats itself fails the repetition threshold at every temperature: the sampled fallbacks
    and the prompt reset after them follow openai-whisper's path exactly."""
    import torch
    import whisper
    from whisper.model import ModelDimensions, Whisper
    from whisper.tokenizer import get_tokenizer

    from ltu_desktop.engine.transcribe import transcribe_windows

    torch.manual_seed(0)
    model = Whisper(ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                                    n_vocab=51864, n_text_ctx=48, n_text_state=32, n_text_head=2, n_text_layer=1))
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
        model.decoder.ln.weight.zero_()
        model.decoder.ln.bias.fill_(1.0)
        model.decoder.token_embedding.weight[get_tokenizer(multilingual=False).encode(" a")[0]] = 0.5
    model.eval()
    audio = (0.1 * np.random.default_rng(0).standard_normal(16_000 * 3)).astype(np.float32)
    runs = []
    for run in (transcribe_windows, whisper.transcribe):
        torch.manual_seed(3)
        runs.append(run(model, audio, fp16=False, language="en"))
    assert runs[0] == runs[1]
    assert runs[1]["segments"][0]["temperature"] == 1.0  # every temperature was tried
