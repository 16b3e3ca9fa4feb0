"""Many clients, one engine: each answer is its own, none is lost, and a client that leaves frees the model."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from served import Paced, audio_message, client_for, clip_bytes, serve  # serve, client_for: fixtures


def test_eight_clients_at_once_each_get_their_own_answer(tiny_engine, serve, client_for):
    import io

    import soundfile as sf

    from ltu_desktop.audio.io import from_array
    from ltu_desktop.engine.types import GenerationSettings

    client = client_for(serve(tiny_engine, max_queue=8))
    asks = [(clip_bytes(100 + i, seconds=1.0), f"Question {i}: what is it?") for i in range(8)]

    def ask(item):
        data, question = item
        reply = client.chat.completions.create(model="tiny", messages=[audio_message(question, data)],
                                               temperature=0, max_tokens=4)
        return reply.choices[0].message.content

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(ask, asks))
    settings = GenerationSettings(temperature=0, max_new_tokens=4)
    for (data, question), got in zip(asks, answers):
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        clip = tiny_engine.prepare(from_array(samples, rate))
        assert got == "".join(tiny_engine.answer(clip, question, settings=settings)).strip()
    assert len(set(answers)) > 1


def test_a_client_cut_mid_stream_frees_the_engine_at_once(tiny_engine, serve, client_for):
    engine = Paced(tiny_engine, pause=0.05)  # 200 tokens would take 10 s or more
    server = serve(engine)
    body = {"model": "tiny", "stream": True, "temperature": 1.0, "max_tokens": 200,
            "messages": [audio_message("Talk for long.", clip_bytes(8))]}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if '"content":' in line and '"content": ""' not in line:
                break  # the answer has begun: hang up
    t0 = time.perf_counter()
    quick = client_for(server).chat.completions.create(
        model="tiny", messages=[audio_message("Short?", clip_bytes(9))], temperature=0, max_tokens=2)
    assert quick.choices[0].message.content is not None
    assert time.perf_counter() - t0 < 8
    cut, done = engine.answers
    assert cut.stopped and len(cut.token_ids) < 50 and not done.stopped


def test_a_non_streaming_client_that_leaves_stops_its_generation(tiny_engine, serve):
    engine = Paced(tiny_engine, pause=0.05)
    server = serve(engine)
    body = {"model": "tiny", "temperature": 1.0, "max_tokens": 200,
            "messages": [audio_message("Talk for long.", clip_bytes(10))]}
    try:
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=1.0)
    except httpx.TimeoutException:
        pass
    for _ in range(100):
        if not httpx.get(f"{server.url}/health").json()["busy"]:
            break
        time.sleep(0.05)
    assert not httpx.get(f"{server.url}/health").json()["busy"]
    assert engine.answers[0].stopped and len(engine.answers[0].token_ids) < 100
