"""`ltu-desktop ask CLIP QUESTION`: one answer, streamed to stdout (or as JSON)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from .common import (add_generation_args, add_model_args, load_audio_noting, load_engine, settings_from,
                     ticking)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("ask", help="ask a question about an audio file; the answer streams to stdout")
    p.add_argument("audio", type=Path)
    p.add_argument("question")
    p.add_argument("--transcript", default=None, help="use this text as the transcript instead of Whisper's")
    p.add_argument("--json", action="store_true")
    add_model_args(p)
    add_generation_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    audio = load_audio_noting(args.audio)
    engine = load_engine(args)
    work = "Transcribing" if args.transcript is None and engine.transcriber is not None else "Preparing"
    with ticking(f"{work} {audio.duration:.0f} s of audio", args.quiet):
        clip = engine.prepare(audio, (args.window, args.window + engine.window_seconds))
    stop = threading.Event()
    try:
        for piece in engine.answer(clip, args.question, transcript=args.transcript,
                                   settings=settings_from(args, engine), stop=stop):
            if not args.json:
                print(piece, end="", flush=True)
    except KeyboardInterrupt:
        stop.set()
    answer = engine.last_answer
    from ..engine.grounding import ungrounded

    marks = list(dict.fromkeys(m.text for m in ungrounded(answer.text, answer.transcript_used)))
    if args.json:
        print(json.dumps({"audio_id": str(args.audio), "instruction": args.question,
                          "input": answer.transcript_used, "pred": answer.text, "pred_ids": answer.token_ids,
                          "window": list(clip.window) if engine.hears_audio else None,
                          "profile": engine.profile.name, "not_in_transcript": marks,
                          "stopped": answer.stopped, "stats": answer.stats.to_dict()}, indent=1))
    else:
        print()
        if marks and not engine.hears_audio:
            print(f"not in the transcript (the model may have made these up): {', '.join(marks)}", file=sys.stderr)
        st = answer.stats
        for note in answer.notes[len(engine.notes):]:
            print(f"note: {note}", file=sys.stderr)
        if not args.quiet:
            heard = f" | window {clip.window[0]:.1f}-{clip.window[1]:.1f}s" if engine.hears_audio else ""
            print(f"[{engine.profile.name} | {st.device} {st.precision} | first token {st.first_token_s:.2f}s | "
                  f"{st.tokens_per_s:.1f} tok/s | {st.new_tokens} tokens{heard}]", file=sys.stderr)
    return 0
