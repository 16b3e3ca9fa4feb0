"""`ltu-desktop bench --serve`: the local API under 1, 4 and 8 concurrent clients.

Each client asks its next question as soon as its answer arrives, over real HTTP on 127.0.0.1, so a
request's latency includes its wait in the server's queue: p50/p95 per request and answers per minute
overall. All clients ask about the same clip, as people asking several questions about one recording do:
after the first answer its transcript, features and prompt prefix come from the engine's caches."""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .runner import QUESTIONS, sample_clip

CLIENTS = (1, 4, 8)


def run_serve_bench(args: argparse.Namespace, progress) -> int:
    from ..engine.engine import Engine
    from ..models.profiles import resolve_profile
    from ..models.transcripts import with_transcripts
    from ..server import Server, create_app

    args.profile = args.profile or ("tiny" if args.quick else "demo")
    profile = with_transcripts(resolve_profile(args.profile, args.llm, args.adapter, args.whisper, args.asr_whisper,
                                               progress), args.transcripts, progress)
    engine = Engine.load(profile, args.device, args.precision, progress)
    clip = Path(args.clip or sample_clip())
    audio = {"data": base64.b64encode(clip.read_bytes()).decode(), "format": clip.suffix.lstrip(".").lower()}
    questions = QUESTIONS[:max(1, min(args.questions, len(QUESTIONS)))]
    max_tokens = 8 if args.quick else args.max_new_tokens
    server = Server(create_app(lambda: engine, max_queue=max(CLIENTS)), "127.0.0.1", 0).start()
    try:
        url = f"{server.url}/v1/chat/completions"
        _ask(url, engine.profile.name, audio, questions[0], max_tokens)  # the clip's transcript and features
        rows = []
        for n in CLIENTS:
            progress(f"{n} concurrent client{'s' if n > 1 else ''}", -1.0)
            rows.append(_round(url, engine.profile.name, audio, questions, max_tokens, n))
    finally:
        server.stop()
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "profile": engine.profile.name,
              "device": engine.device, "precision": engine.precision, "clip": str(clip),
              "max_tokens": max_tokens, "questions_per_client": len(questions), "rounds": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-serve.json").write_text(json.dumps(result, indent=1))
    (args.out / "bench-serve.md").write_text(markdown(result))
    print(markdown(result))
    print(f"written: {args.out / 'bench-serve.json'}, {args.out / 'bench-serve.md'}", file=sys.stderr)
    return 0 if all(r["errors"] == 0 for r in rows) else 1


def _ask(url: str, model: str, audio: dict, question: str, max_tokens: int) -> float:
    body = {"model": model, "temperature": 0, "max_tokens": max_tokens, "messages": [{"role": "user", "content": [
        {"type": "text", "text": question}, {"type": "input_audio", "input_audio": audio}]}]}
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as r:
        json.load(r)
    return time.perf_counter() - t0


def _round(url: str, model: str, audio: dict, questions: tuple[str, ...], max_tokens: int, clients: int) -> dict:
    import numpy as np

    def client(_i: int) -> tuple[list[float], int]:
        latencies, errors = [], 0
        for q in questions:
            try:
                latencies.append(_ask(url, model, audio, q, max_tokens))
            except (urllib.error.URLError, OSError):
                errors += 1
        return latencies, errors

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    latencies = [x for lat, _ in done for x in lat]
    p50, p95 = (float(np.percentile(latencies, q)) if latencies else 0.0 for q in (50, 95))
    return {"clients": clients, "answers": len(latencies), "errors": sum(e for _, e in done),
            "p50_s": round(p50, 3), "p95_s": round(p95, 3), "wall_s": round(wall, 3),
            "answers_per_min": round(60 * len(latencies) / wall, 1) if wall > 0 else 0.0}


def markdown(r: dict) -> str:
    lines = [f"Local API, profile `{r['profile']}` on {r['device']} {r['precision']}, {r['questions_per_client']} "
             f"questions per client, {r['max_tokens']} tokens at most, {r['date']}", "",
             "| concurrent clients | answers | errors | p50 latency (s) | p95 latency (s) | answers per minute |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {x['clients']} | {x['answers']} | {x['errors']} | {x['p50_s']:.2f} | {x['p95_s']:.2f} | "
              f"{x['answers_per_min']:.1f} |" for x in r["rounds"]]
    return "\n".join(lines) + "\n"
