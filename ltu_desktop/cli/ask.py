"""`ltu-desktop ask CLIP QUESTION`: one answer, streamed to stdout (or as JSON); --compare asks several models."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from .common import (add_generation_args, add_model_args, load_audio_noting, load_engine, progress_printer,
                     settings_from, ticking)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("ask", help="ask a question about an audio file; the answer streams to stdout")
    p.add_argument("audio", type=Path)
    p.add_argument("question")
    p.add_argument("--transcript", default=None, help="use this text as the transcript instead of Whisper's")
    p.add_argument("--json", action="store_true")
    p.add_argument("--compare", metavar="A,B", help="answer with each of these profiles in turn, side by side "
                   "(e.g. ltu,ltu-as); one base LLM is loaded when their base weights are identical")
    p.add_argument("--verbose", action="store_true", help="also print the model's trainable-parameter count")
    add_model_args(p)
    add_generation_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    audio = load_audio_noting(args.audio)
    if args.compare:
        return _compare(args, audio)
    engine = load_engine(args)
    if args.verbose:
        print(f"{engine.profile.describe()}: {engine.trainable_parameters:,} trainable parameters", file=sys.stderr)
    row = _answer(args, engine, audio)
    if args.json:
        print(json.dumps(row, indent=1))
    return 0


def _answer(args: argparse.Namespace, engine, audio) -> dict:
    """Stream one engine's answer to stdout (unless --json) and return it as a batch-style row."""
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
    st = answer.stats
    if not args.json:
        print()
        if marks and not engine.hears_audio:
            print(f"not in the transcript (the model may have made these up): {', '.join(marks)}", file=sys.stderr)
        for note in answer.notes[len(engine.notes):]:
            print(f"note: {note}", file=sys.stderr)
        if not args.quiet:
            heard = f" | window {round(clip.window[0], 2)}-{round(clip.window[1], 2)}s" if engine.hears_audio else ""
            print(f"[{engine.profile.name} | {st.device} {st.precision} | first token {st.first_token_s:.2f}s | "
                  f"{st.tokens_per_s:.1f} tok/s | {st.new_tokens} tokens{heard}]", file=sys.stderr)
    return {"audio_id": str(args.audio), "instruction": args.question, "input": answer.transcript_used,
            "pred": answer.text, "pred_ids": answer.token_ids,
            "window": list(clip.window) if engine.hears_audio else None, "profile": engine.profile.name,
            "not_in_transcript": marks, "stopped": answer.stopped, "stats": st.to_dict()}


def _compare(args: argparse.Namespace, audio) -> int:
    """Each model answers the same question in turn, under its own heading and with its own timings."""
    from ..engine.compare import load_comparison
    from ..engine.types import EngineError
    from ..models.profiles import resolve_profile

    if args.llm or args.adapter or args.whisper or args.profile:
        raise EngineError("--compare names the profiles itself (e.g. --compare ltu,ltu-as); "
                          "drop --profile, --llm, --adapter and --whisper.")
    progress = progress_printer(args.quiet)
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    comparison = load_comparison([resolve_profile(n, progress=progress) for n in names], args.device,
                                 args.precision, progress)
    if not args.quiet:
        print(f"Comparing {', '.join(names)} ({comparison.how})", file=sys.stderr)
    rows = []
    for i, name in enumerate(names):
        engine = comparison.engine(i)
        if not args.json:
            print(f"## {name}: {engine.profile.describe()}", flush=True)
        rows.append({"compare": name} | _answer(args, engine, audio))
        if not args.json and i + 1 < len(names):
            print()
        comparison.done_with(i)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0
