"""The official `openai` package against a real server: what a person's own tools would do."""

from __future__ import annotations

import io

from served import audio_message, client_for, clip_bytes, serve  # serve, client_for: fixtures

GREEDY = dict(temperature=0, max_tokens=6)


def test_chat_with_audio_matches_the_engine_and_reports_its_figures(tiny_engine, serve, client_for):
    from ltu_desktop.audio.io import load_audio
    from ltu_desktop.engine.types import GenerationSettings

    data = clip_bytes(1)
    client = client_for(serve(tiny_engine))
    reply = client.chat.completions.create(model="tiny", messages=[audio_message("What do you hear?", data)],
                                           **GREEDY)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "tiny"
    assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 6
    assert reply.usage.prompt_tokens > 25  # the 25 audio positions and the prompt's text
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    ltu = reply.model_extra["ltu"]
    assert ltu["mode"] == "joint" and ltu["heard_audio"] and ltu["window"] == [0.0, 3.0]
    assert ltu["first_token_s"] > 0 and "tokens_per_s" in ltu

    audio = load_audio(_saved(data))
    clip = tiny_engine.prepare(audio)
    expected = "".join(tiny_engine.answer(clip, "What do you hear?",
                                          settings=GenerationSettings(temperature=0, max_new_tokens=6))).strip()
    assert choice.message.content == expected

    again = client.chat.completions.create(model="tiny", messages=[audio_message("And now?", data)], **GREEDY)
    assert again.model_extra["ltu"]["reused_prefix_tokens"] > 0  # same bytes: features and prefix reused


def test_streamed_chat_ends_with_done_and_equals_the_whole_answer(tiny_engine, serve, client_for):
    client = client_for(serve(tiny_engine))
    messages = [audio_message("Describe the sound.", clip_bytes(2))]
    whole = client.chat.completions.create(model="tiny", messages=messages, **GREEDY).choices[0].message.content
    stream = client.chat.completions.create(model="tiny", messages=messages, stream=True,
                                            stream_options={"include_usage": True}, **GREEDY)
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() == whole
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].model_extra["ltu"]["mode"] == "joint"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1


def test_raw_stream_is_openai_sse(tiny_engine, serve):
    import httpx

    server = serve(tiny_engine)
    body = {"model": "tiny", "stream": True, "messages": [audio_message("Hi?", clip_bytes(2))], **GREEDY}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith("data: ") for ln in lines) and lines[-1] == "data: [DONE]"


def test_generation_options_and_extra_body(tiny_engine, serve, client_for):
    client = client_for(serve(tiny_engine))
    messages = [{"role": "system", "content": "ignored"}, audio_message("old question", clip_bytes(3, 15.0)),
                {"role": "assistant", "content": "old answer"}, {"role": "user", "content": "What happens?"}]
    a, b = (client.chat.completions.create(model="tiny", messages=messages, temperature=1.0, top_p=0.9, seed=7,
                                           max_tokens=5, extra_body={"ltu": {"window_start": 4.0}})
            for _ in range(2))
    assert a.choices[0].message.content == b.choices[0].message.content  # same seed, same answer
    assert a.model_extra["ltu"]["window"] == [4.0, 14.0]

    greedy = client.chat.completions.create(model="tiny", messages=messages, temperature=0, max_tokens=12)
    text = greedy.choices[0].message.content
    cut = text[3:5]
    stopped = client.chat.completions.create(model="tiny", messages=messages, temperature=0, max_tokens=12,
                                             stop=[cut])
    assert stopped.choices[0].message.content == text[:text.index(cut)].strip()
    assert stopped.choices[0].finish_reason == "stop"

    compared = client.chat.completions.create(model="tiny", messages=messages, temperature=0, max_tokens=3,
                                              extra_body={"ltu": {"compare": True}})
    assert [c.model_extra["ltu"]["mode"] for c in compared.choices] == ["joint", "audio", "transcript"]
    assert [c.index for c in compared.choices] == [0, 1, 2]
    only = client.chat.completions.create(model="tiny", messages=messages, temperature=0, max_tokens=3,
                                          extra_body={"ltu": {"mode": "transcript"}})
    assert only.model_extra["ltu"]["mode"] == "transcript" and not only.model_extra["ltu"]["heard_audio"]


def test_transcription_in_every_format(tiny_engine, serve, client_for):
    client = client_for(serve(tiny_engine))
    data = clip_bytes(4)
    for model in ("tiny", "whisper-1"):
        out = client.audio.transcriptions.create(model=model, file=("clip.wav", io.BytesIO(data)))
        assert isinstance(out.text, str)
    text = client.audio.transcriptions.create(model="tiny", file=("clip.wav", io.BytesIO(data)),
                                              response_format="text")
    assert isinstance(text, str)
    flac = ("clip.flac", io.BytesIO(clip_bytes(4, fmt="FLAC")))
    verbose = client.audio.transcriptions.create(model="tiny", file=flac, response_format="verbose_json")
    assert verbose.duration == 3.0 and isinstance(verbose.segments, list)
    srt = client.audio.transcriptions.create(model="tiny", file=("clip.wav", io.BytesIO(data)), response_format="srt")
    vtt = client.audio.transcriptions.create(model="tiny", file=("clip.wav", io.BytesIO(data)), response_format="vtt")
    assert isinstance(srt, str) and vtt.startswith("WEBVTT")


def test_subtitles_from_segments():
    from ltu_desktop.engine.types import Segment
    from ltu_desktop.server.formats import srt, vtt

    segs = [Segment(0.0, 2.5, " Hello there."), Segment(3661.25, 3662.0, "Bye.")]
    assert srt(segs) == "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nBye.\n\n"
    assert vtt(segs).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n")


def test_stop_scanner_holds_back_only_a_possible_start():
    from ltu_desktop.server.formats import StopScanner

    s = StopScanner(["END"])
    assert [s.push(p) for p in ("ab", "cE", "N", "x E", "ND tail")] == ["ab", "c", "", "ENx ", ""]
    assert s.hit and s.flush() == ""
    t = StopScanner(["##"])
    assert t.push("a#") == "a" and t.flush() == "#"


def test_models_list_and_health(tiny_engine, serve, client_for):
    import httpx

    server = serve(tiny_engine)
    client = client_for(server)
    models = client.models.list().data
    assert [m.id for m in models] == ["tiny", "ltuas-a6"]
    assert models[0].model_extra["ltu"]["loaded"] and not models[1].model_extra["ltu"]["loaded"]
    assert client.models.retrieve("tiny").id == "tiny"
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["model"] == "tiny"


def _saved(data: bytes):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "clip.wav"
    path.write_bytes(data)
    return path
