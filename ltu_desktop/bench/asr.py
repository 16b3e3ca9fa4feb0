"""The transcript stage per ASR backend: openai-whisper (the authors' transcripts) against CTranslate2 (faster-whisper).

Two measures. On the profile's own Whisper, the whole clip is transcribed by each backend with the same
decoding options, and the word error against the clip's reference text (`clip.txt` beside it) shows
whether a faster backend costs accuracy. At full size, a random Whisper large-v2 (what the real profile
transcribes with) encodes one 30 s window and decodes a fixed number of greedy tokens in each backend:
weight bytes dominate there, so that is where the backends' speeds differ, whatever the weights are.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ..audio.io import Audio
from ..engine.checkpoints import read_whisper
from ..engine.transcribe import Transcriber
from ..models.ct2_whisper import whisper_to_ct2

LARGE_V2 = dict(n_mels=80, n_audio_ctx=1500, n_audio_state=1280, n_audio_head=20, n_audio_layer=32, n_vocab=51865,
                n_text_ctx=448, n_text_state=1280, n_text_head=20, n_text_layer=32)
CT2_TYPES = ("float32", "int8")


def speech_set(folder: Path) -> list[tuple[Audio, str, str]]:
    """(audio, reference text, name) for every audio file in `folder` with a same-named .txt beside it."""
    from ..audio.io import AudioError, load_audio

    found = []
    for path in sorted(Path(folder).iterdir()):
        ref = path.with_suffix(".txt")
        if path.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3") and ref.exists():
            try:
                found.append((load_audio(path), ref.read_text(), path.name))
            except AudioError as exc:
                raise SystemExit(f"bench: {path} cannot be read: {exc}") from exc
    if not found:
        raise SystemExit(f"bench: {folder} holds no audio file with a same-named .txt reference beside it.")
    return found


def on_profile(checkpoint: Path, clips: list[tuple[Audio, str | None]], ct2_types: tuple[str, ...] = CT2_TYPES) -> list[dict]:
    """Each backend transcribes every clip with the profile's ASR Whisper (CTranslate2 gets it converted
    once); seconds are summed over the clips and the word error is the corpus WER over them, against the
    references where every clip has one, else against openai-whisper's transcripts."""
    from ..evaluation.scoring import word_error_rate

    ck = read_whisper(checkpoint, encoder_only=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = whisper_to_ct2(ck.dims, ck.state, Path(tmp) / "ct2", "float16")
        del ck
        for backend, path, compute in (("openai-whisper", checkpoint, "float32"),
                                       *((f"ctranslate2 {c}", folder, c) for c in ct2_types)):
            asr = Transcriber(path, torch.device("cpu"), compute_type=compute)
            asr(clips[0][0])  # the first call sets up each backend's kernels; both are timed warm
            asr.cache.clear()
            t0 = time.perf_counter()
            texts = [asr(audio).text for audio, _ in clips]
            rows.append({"backend": backend, "seconds": round(time.perf_counter() - t0, 3), "texts": texts})
            del asr
            gc.collect()
    refs = [r for _, r in clips]
    against = refs if all(r is not None for r in refs) else rows[0]["texts"]
    for r in rows:
        r["wer"] = round(word_error_rate(against, r["texts"]), 4)
        r["wer_against"] = (f"reference texts of {len(clips)} clip(s)" if against is refs
                            else "openai-whisper transcript")
        r["speedup"] = round(rows[0]["seconds"] / r["seconds"], 2) if r["seconds"] else None
    return rows


def _random_whisper(dims: dict):
    """Default-initialized (Whisper's sparse alignment-heads buffer rules out building it on the meta device)."""
    from whisper.model import ModelDimensions, Whisper

    model = Whisper(ModelDimensions(**dims))
    with torch.no_grad():
        model.decoder.positional_embedding.normal_(0.0, 0.02)  # allocated uninitialized
    return model.eval()


def _prompt_and_suppressed(dims: dict) -> tuple[list[int], list[int]]:
    from whisper.tokenizer import get_tokenizer

    tok = get_tokenizer(multilingual=dims["n_vocab"] >= 51865, language="en", task="transcribe")
    return list(tok.sot_sequence_including_notimestamps), [tok.eot, tok.no_timestamps]


@torch.inference_mode()
def _openai_stage(model, mel: torch.Tensor, prompt: list[int], suppressed: list[int], tokens: int) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    audio_features = model.embed_audio(mel)
    t_enc = time.perf_counter() - t0
    cache, hooks = model.install_kv_cache_hooks()
    try:
        seq = torch.tensor([prompt])
        t0 = time.perf_counter()
        for i in range(tokens):
            logits = model.decoder(seq if i == 0 else seq[:, -1:], audio_features, kv_cache=cache)[0, -1]
            logits[suppressed] = -torch.inf
            seq = torch.cat([seq, logits.argmax().view(1, 1)], dim=1)
        return t_enc, time.perf_counter() - t0, tokens
    finally:
        for h in hooks:
            h.remove()


def _ct2_stage(folder: Path, compute: str, mel: np.ndarray, prompt: list[int], suppressed: list[int],
               tokens: int) -> tuple[float, float, int]:
    import ctranslate2

    model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type=compute,
                                       intra_threads=torch.get_num_threads())
    features = ctranslate2.StorageView.from_array(mel)
    model.generate(model.encode(features), [prompt], beam_size=1, max_length=len(prompt) + 2)  # kernel set-up
    t0 = time.perf_counter()
    encoded = model.encode(features)
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    # CTranslate2 4.x stops Whisper at about half of max_length here, so ask for twice: the rate is per token.
    out = model.generate(encoded, [prompt], beam_size=1, max_length=2 * (len(prompt) + tokens),
                         suppress_tokens=suppressed, suppress_blank=False)
    return t_enc, time.perf_counter() - t0, len(out[0].sequences_ids[0])


def full_size(audio: Audio, tokens: int = 64, dims: dict | None = None, progress=None) -> list[dict]:
    """One 30 s window encoded and `tokens` greedy tokens decoded by each backend on a random large-v2.

    Each backend runs once before it is timed; end-of-text is suppressed, so random weights cannot stop
    early. The stage is the encoder plus `tokens` times the measured time per decoded token."""
    import whisper

    report = progress or (lambda _s, _f: None)
    dims = dims or LARGE_V2
    mel = whisper.log_mel_spectrogram(torch.from_numpy(whisper.pad_or_trim(audio.samples)), n_mels=dims["n_mels"])[None]
    prompt, suppressed = _prompt_and_suppressed(dims)
    report("Transcript stage: openai-whisper on a random large-v2", -1.0)
    model = _random_whisper(dims)
    _openai_stage(model, mel, prompt, suppressed, 2)
    rows = [("openai-whisper float32", *_openai_stage(model, mel, prompt, suppressed, tokens))]
    with tempfile.TemporaryDirectory() as tmp:
        report("Transcript stage: converting it to CTranslate2", -1.0)
        folder = whisper_to_ct2(dims, model.state_dict(), Path(tmp) / "ct2", "float16")
        del model
        gc.collect()
        for compute in CT2_TYPES:
            report(f"Transcript stage: CTranslate2 {compute}", -1.0)
            rows.append((f"ctranslate2 {compute}", *_ct2_stage(folder, compute, mel.numpy(), prompt, suppressed, tokens)))
            gc.collect()
    out = []
    for backend, t_enc, t_dec, n in rows:
        per_token = t_dec / max(n, 1)
        out.append({"backend": backend, "encoder_s": round(t_enc, 3), "decoded_tokens": n,
                    "tokens_per_s": round(1 / per_token, 2) if per_token else None,
                    "stage_s": round(t_enc + per_token * tokens, 3)})
    for r in out:
        r["speedup"] = round(out[0]["stage_s"] / r["stage_s"], 2) if r["stage_s"] else None
    return out
