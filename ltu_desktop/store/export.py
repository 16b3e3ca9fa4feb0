"""Export stored conversations: Markdown to read, JSON to process.

The JSON is a flat list of messages in OpenASQA form (audio_id, instruction, input, pred; no `output`), so an
export can be fed back to `ltu-desktop batch --input` to re-ask the same questions with another model or settings.
The answers of one "Ask both" are one row per model sharing a `compare_group`; Markdown puts them side by side.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from .history import History
from .records import Conversation, MessageRecord

Format = Literal["md", "json"]


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds") if t else None


def message_record(conversation: Conversation, m: MessageRecord) -> dict:
    """Everything known about one message; the OpenASQA keys come first."""
    clip = conversation.clip
    row: dict = {"audio_id": clip.path, "instruction": m.question}
    if m.transcript_used is not None:
        row["input"] = m.transcript_used
    row |= {
        "pred": m.answer,
        "correction": m.correction,
        "for_training": m.for_training,
        "status": m.status,
        "error": m.error,
        "window_s": list(m.window) if m.window else None,
        "model": m.profile,
        "device": m.device,
        "precision": m.precision,
        "settings": m.settings,
        "stats": m.stats,
        "first_token_s": m.first_token_s,
        "tokens_per_s": m.tokens_per_s,
        "token_count": m.token_count,
        "compare_group": m.compare_group,
        "asked_at": _iso(m.created_at),
        "updated_at": _iso(m.updated_at),
        "message_id": m.id,
        "conversation_id": conversation.id,
        "conversation_title": conversation.title,
        "clip": {"id": clip.id, "path": clip.path, "content_hash": clip.content_hash,
                 "duration_s": round(clip.duration, 3), "recording": clip.is_recording,
                 "file_exists": clip.file_exists},
    }
    return row


def to_json(conversations: Sequence[Conversation]) -> str:
    return json.dumps([message_record(c, m) for c in conversations for m in c.messages], indent=1,
                      ensure_ascii=False)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in (text or "").splitlines() or [""])


def _settings_line(settings: dict) -> str:
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items() if v is not None)


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M") if t else "?"


def _message_md(i: int, m: MessageRecord) -> list[str]:
    status = "" if m.status == "complete" else f" ({m.status})"
    head = m.question.strip().splitlines()[0] if m.question.strip() else "(empty question)"
    head = head if len(head) <= 80 else head[:79] + "…"
    lines = [f"### {i}. {head}", ""]
    if head != m.question.strip():
        lines += ["**Question**", "", _quote(m.question), ""]
    lines += [f"**Answer**{status}", "", _quote(m.answer) if m.answer else "_(no answer)_", ""]
    if m.correction is not None:
        used = " (used for training)" if m.for_training else ""
        lines += [f"**Your correction**{used}", "", _quote(m.correction), ""]
    elif m.for_training:
        lines += ["- Used for training as the model answered"]
    if m.error:
        lines += [f"- Error: {m.error}"]
    run = " · ".join(x for x in (m.profile, m.device, m.precision) if x)
    if run:
        lines += [f"- Model: {run}"]
    if (m.settings or {}).get("mode") == "transcript":
        lines += ["- Audio: not heard (answered from the transcript only)"]
    elif m.window:
        lines += [f"- Window: {m.window[0]:.1f}–{m.window[1]:.1f} s"]
    if m.settings:
        lines += [f"- Settings: {_settings_line(m.settings)}"]
    speed = [f"first token {m.first_token_s:.2f} s" if m.first_token_s is not None else "",
             f"{m.tokens_per_s:.1f} tokens/s" if m.tokens_per_s else "",
             f"{m.token_count} tokens" if m.token_count is not None else ""]
    if any(speed):
        lines += [f"- Speed: {', '.join(s for s in speed if s)}"]
    lines += [f"- Asked: {_when(m.created_at)}"]
    if m.transcript_used:
        lines += ["- Transcript used:", "", _quote(m.transcript_used)]
    elif m.transcript_used is not None:
        lines += ["- Transcript used: _(none)_"]
    return lines + [""]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _whole_s(m: MessageRecord) -> float | None:
    if m.first_token_s is None:
        return None
    return float(m.first_token_s) + float(m.stats.get("decode_s") or 0.0)


COMPARED = {"shared base": "one base LLM shared by both models (their adapters switched on in turn)",
            "all loaded": "both models loaded side by side", "one at a time": "the models took turns in memory"}


def _compared_md(i: int, ms: Sequence[MessageRecord]) -> list[str]:
    """The answers of several models to one question, in a table with a column per model."""
    first = ms[0]
    head = first.question.strip().splitlines()[0] if first.question.strip() else "(empty question)"
    head = head if len(head) <= 80 else head[:79] + "…"
    lines = [f"### {i}. {head} (asked {len(ms)} models)", ""]
    if head != first.question.strip():
        lines += ["**Question**", "", _quote(first.question), ""]

    def answer(m: MessageRecord) -> str:
        status = "" if m.status == "complete" else f" _({m.status}{': ' + m.error if m.error else ''})_"
        return _cell(m.answer.strip() or "_(no answer)_") + status

    def heard(m: MessageRecord) -> str:
        if (m.settings or {}).get("mode") == "transcript":
            return "the transcript only"
        return f"{m.window[0]:.2f}–{m.window[1]:.2f} s" if m.window else "–"

    rows = (("Answer", answer),
            *((("Your correction", lambda m: _cell(m.correction) if m.correction is not None else "–"),)
              if any(m.correction is not None for m in ms) else ()),
            *((("Used for training", lambda m: "yes" if m.for_training else "–"),)
              if any(m.for_training for m in ms) else ()),
            ("First token", lambda m: f"{m.first_token_s:.2f} s" if m.first_token_s is not None else "–"),
            ("Speed", lambda m: f"{m.tokens_per_s:.1f} tokens/s" if m.tokens_per_s else "–"),
            ("Whole answer", lambda m: f"{_whole_s(m):.2f} s, {m.token_count or 0} tokens"
             if _whole_s(m) is not None else "–"),
            ("Ran on", lambda m: " · ".join(x for x in (m.device, m.precision) if x) or "–"),
            ("Heard", heard))
    lines += ["| | " + " | ".join(f"**{_cell(m.profile or 'model')}**" for m in ms) + " |",
              "|---|" + "---|" * len(ms)]
    lines += [f"| {name} | " + " | ".join(cell(m) for m in ms) + " |" for name, cell in rows]
    lines.append("")
    how = next((m.settings.get("compare") for m in ms if (m.settings or {}).get("compare")), None)
    if how:
        lines += [f"- Memory: {COMPARED.get(how, how)}"]
    settings = {k: v for k, v in (first.settings or {}).items() if k not in ("compare", "compare_with", "mode")}
    if settings:
        lines += [f"- Settings: {_settings_line(settings)}"]
    lines += [f"- Asked: {_when(first.created_at)}"]
    used = next((m.transcript_used for m in ms if m.transcript_used), None)
    if used:
        lines += ["- Transcript shown (only the models that read it used it):", "", _quote(used)]
    return lines + [""]


def compared_groups(messages: Sequence[MessageRecord]) -> list[list[MessageRecord]]:
    """Consecutive messages of one comparison go together; every other message stands alone."""
    groups: list[list[MessageRecord]] = []
    for m in messages:
        if m.compare_group and groups and groups[-1][0].compare_group == m.compare_group:
            groups[-1].append(m)
        else:
            groups.append([m])
    return groups


def to_markdown(conversations: Sequence[Conversation]) -> str:
    lines = [f"# ltu-desktop conversations (exported {_when(datetime.now().timestamp())})", ""]
    for c in conversations:
        clip = c.clip
        title = f": {c.title}" if c.title else ""
        notes = ", recorded in the app" if clip.is_recording else ""
        notes += "" if clip.file_exists else ", file no longer there"
        lines += [f"## {clip.name} — conversation {c.id}{title}", "",
                  f"Clip `{clip.path}` ({clip.duration:.1f} s{notes}), started {_when(c.created_at)}.", ""]
        for i, group in enumerate(compared_groups(c.messages), 1):
            lines += _message_md(i, group[0]) if len(group) == 1 else _compared_md(i, group)
        if not c.messages:
            lines += ["_(no messages)_", ""]
    return "\n".join(lines).rstrip() + "\n"


def format_for(path: str | os.PathLike, fmt: Format | None = None) -> Format:
    return fmt or ("json" if Path(path).suffix.lower() == ".json" else "md")


def write(conversations: Sequence[Conversation], path: str | os.PathLike, fmt: Format | None = None) -> int:
    """Writes conversations (from the store, or built from unsaved ones) atomically; returns the message count."""
    text = to_json(conversations) if format_for(path, fmt) == "json" else to_markdown(conversations)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:  # created with the person's umask, like any file they save
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sum(len(c.messages) for c in conversations)


def export(history: History, path: str | os.PathLike, fmt: Format | None = None,
           conversation_ids: Sequence[int] | None = None) -> int:
    """Writes the given conversations (None: all) atomically; returns how many messages were written.
    `fmt` defaults from the suffix: .json is JSON, anything else Markdown."""
    conversations = history.conversations(ids=conversation_ids) if conversation_ids is not None \
        else history.conversations()
    return write(conversations, path, fmt)
