"""`ltu-desktop transcribe CLIP`: the Whisper transcript with timed segments."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_model_args, load_audio_noting, load_engine, ticking


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("transcribe", help="Whisper transcript with timed segments")
    p.add_argument("audio", type=Path)
    p.add_argument("--json", action="store_true")
    add_model_args(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    audio = load_audio_noting(args.audio)
    engine = load_engine(args)
    with ticking(f"Transcribing {audio.duration:.0f} s of audio", args.quiet):
        t = engine.transcribe(audio)
    if args.json:
        print(json.dumps({"audio_id": str(args.audio), "text": t.text, "language": t.language,
                          "no_speech": t.no_speech,
                          "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in t.segments]},
                         indent=1))
    else:
        for s in t.segments:
            print(f"[{s.start:7.2f} -> {s.end:7.2f}] {s.text}")
        if not t.segments:
            print("(no speech)")
    return 0
