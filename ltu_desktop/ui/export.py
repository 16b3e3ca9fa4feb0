"""Export the chats of this session to Markdown (to read) or JSON (to process)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .session import ClipEntry, Exchange


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else ""


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m)}:{s:04.1f}"


def exchange_record(e: Exchange) -> dict:
    return {
        "question": e.question,
        "answer": e.answer,
        "state": e.state,
        "error": e.error or None,
        "stopped": e.state == "stopped",
        "regenerated": e.regenerated,
        "transcript_used": e.transcript_used,
        "transcript_edited": e.transcript_edited,
        "window_s": list(e.window),
        "model": e.model,
        "device": e.device,
        "precision": e.precision,
        "settings": e.settings,
        "stats": e.stats,
        "asked_at": _when(e.asked_at),
        "answered_at": _when(e.answered_at),
    }


def clip_record(clip: ClipEntry) -> dict:
    return {
        "clip": clip.name,
        "source": clip.path,
        "recorded": clip.recorded,
        "duration_s": round(clip.duration, 3),
        "transcript": clip.asr_text(),
        "edited_transcript": clip.transcript_override(),
        "exchanges": [exchange_record(e) for e in clip.exchanges],
    }


def to_json(clips: list[ClipEntry]) -> str:
    payload = {"exported_at": _when(time.time()), "clips": [clip_record(c) for c in clips]}
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_markdown(clips: list[ClipEntry]) -> str:
    lines = [f"# LTU-AS chat export ({_when(time.time())})", ""]
    for clip in clips:
        lines += [f"## {clip.name}", "", f"- Source: `{clip.path or 'recording'}`"]
        lines.append(f"- Duration: {_clock(clip.duration)}")
        if clip.asr_text():
            lines.append(f"- Transcript (Whisper): {clip.asr_text()}")
        lines.append("")
        for i, e in enumerate(clip.exchanges, 1):
            lines += [f"### Q{i}: {e.question}", ""]
            lines += [e.answer or "_(no answer)_", ""]
            meta = [f"window {_clock(e.window[0])}–{_clock(e.window[1])}"]
            if e.state in ("stopped", "failed"):
                meta.append(f"**{e.state}**" + (f": {e.error}" if e.error else ""))
            if e.model:
                meta.append(f"model {e.model} ({e.device}, {e.precision})")
            if e.stats:
                first, speed = e.stats.get("first_token_s", 0), e.stats.get("tokens_per_s", 0)
                meta.append(f"first token {first:.2f} s, {speed:.1f} tokens/s")
            if e.settings:
                meta.append(", ".join(f"{k}={v}" for k, v in e.settings.items() if v is not None))
            meta.append(f"asked {_when(e.asked_at)}")
            lines += ["- " + m for m in meta]
            used = "edited transcript" if e.transcript_edited else "transcript"
            if e.transcript_used:
                lines += [f"- Input ({used}): {e.transcript_used}"]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_export(path: str | Path, clips: list[ClipEntry]) -> Path:
    """The suffix picks the format: .json gives JSON, anything else Markdown."""
    p = Path(path)
    text = to_json(clips) if p.suffix.lower() == ".json" else to_markdown(clips)
    p.write_text(text, encoding="utf-8")
    return p
