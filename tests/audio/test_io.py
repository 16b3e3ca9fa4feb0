"""Audio in: every format soundfile reads comes out as float32 mono 16 kHz; bad files get one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.audio.io import SAMPLE_RATE, AudioError, IncomingAudio, from_array, load_audio


def _tone(rate, seconds=1.0, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


@pytest.mark.parametrize("fmt,subtype,rate,channels", [
    ("WAV", "PCM_16", 16000, 1), ("WAV", "PCM_24", 44100, 2), ("WAV", "FLOAT", 8000, 1),
    ("FLAC", "PCM_16", 48000, 2), ("OGG", "VORBIS", 22050, 1), ("OGG", "OPUS", 48000, 1),
    ("MP3", "MPEG_LAYER_III", 44100, 2), ("AIFF", "PCM_16", 32000, 6),
])
def test_formats_rates_and_channels_become_16k_mono(tmp_path, fmt, subtype, rate, channels):
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(str(path), _tone(rate, 1.0, channels), rate, format=fmt, subtype=subtype)
    audio = load_audio(path)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration - 1.0) < 0.08
    spectrum = np.abs(np.fft.rfft(audio.samples[:SAMPLE_RATE // 2]))
    assert abs(np.argmax(spectrum) * 2 - 440) < 10


def test_array_input_and_content_hash():
    a = from_array((_tone(48000) * 32767).astype(np.int16), 48000)
    b = from_array(_tone(48000).astype(np.float32), 48000)
    assert abs(a.duration - 1.0) < 1e-3 and np.allclose(a.samples, b.samples, atol=1e-3)
    assert from_array(b.samples).content_hash == b.content_hash != a.content_hash


@pytest.mark.parametrize("name,content,message", [
    ("talk.m4a", b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 200, "m4a"),
    ("notes.wav", b"these are my meeting notes, not audio\n" * 20, "not a readable audio file"),
    ("empty.wav", b"", "empty"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioError, match=message):
        load_audio(tmp_path / name)


def test_truncated_wav_is_refused_or_read_partially(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(str(path), _tone(16000, 2.0), 16000)
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(AudioError):
        load_audio(path)


def test_zero_length_and_nan_audio_are_refused(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(str(path), np.zeros(0), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(path)
    with pytest.raises(AudioError, match="NaN"):
        from_array(np.array([0.0, np.nan, 0.1], dtype=np.float32))
    with pytest.raises(AudioError, match="empty"):
        from_array(np.zeros(0, dtype=np.float32))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="folder"):
        load_audio(tmp_path)


def test_a_recording_resampled_piece_by_piece_sounds_like_the_whole_resampled_at_once():
    """While a take is recorded each new piece is resampled once; the take so far is a view, never a copy."""
    rate = 48_000
    t = np.arange(int(6.3 * rate)) / rate
    take = (0.4 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)
    incoming = IncomingAudio(rate, "take.wav")
    before = None
    for a in range(0, len(take), 7_351):  # pieces of any size, as the microphone hands them over
        incoming.append(take[a:a + 7_351])
        now = incoming.audio
        if before is not None and len(before.samples):
            assert np.shares_memory(now.samples, before.samples) and len(now.samples) >= len(before.samples)
        before = now
    whole = from_array(take, rate)
    got = incoming.audio.samples
    assert incoming.audio.source == "take.wav" and 0 <= len(whole.samples) - len(got) < 0.05 * SAMPLE_RATE
    n = min(len(got), len(whole.samples)) - SAMPLE_RATE // 10
    assert np.max(np.abs(got[:n] - whole.samples[:n])) < 1e-3
