"""Every mistake gets OpenAI's error object with the right status, and the server keeps serving."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest

from served import Paced, audio_message, client_for, clip_bytes, serve  # serve, client_for: fixtures

KEY = "sk-local-test"


def _chat(server, body: dict, key: str | None = KEY, **kw) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{server.url}/v1/chat/completions", json=body, headers=headers, timeout=60, **kw)


def _error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["type"]
    if code:
        assert err["code"] == code
    return err


def test_bad_requests_are_refused_clearly_and_serving_goes_on(tiny_engine, serve, client_for):
    server = serve(tiny_engine, api_key=KEY, max_upload_bytes=200_000)
    wav = clip_bytes(5)
    ok = {"model": "tiny", "max_tokens": 3, "messages": [audio_message("What is it?", wav)]}

    def with_audio(data: str, fmt: str = "wav") -> dict:
        m = audio_message("What is it?", b"")
        m["content"][1]["input_audio"] = {"data": data, "format": fmt}
        return {**ok, "messages": [m]}

    _error(_chat(server, with_audio("not base64 !!")), 400, "invalid_base64")
    _error(_chat(server, with_audio(base64.b64encode(wav).decode(), "m4a")), 400, "unsupported_audio_format")
    corrupt = _error(_chat(server, with_audio(base64.b64encode(b"RIFF" + b"\x00garbage" * 50).decode())), 400,
                     "invalid_audio")
    assert "damaged" in corrupt["message"] and "Traceback" not in corrupt["message"]
    _error(_chat(server, {**ok, "messages": [{"role": "system", "content": "hi"}]}), 400, "no_user_message")
    _error(_chat(server, {**ok, "messages": [audio_message("   ", wav)]}), 400, "empty_question")
    _error(_chat(server, {**ok, "messages": [{"role": "user", "content": "no audio?"}]}), 400, "no_audio")
    _error(_chat(server, {**ok, "temperature": -1}), 400, "invalid_request")
    _error(_chat(server, {**ok, "model": "gpt-4o"}), 404, "model_not_found")
    assert "not loaded" in _error(_chat(server, {**ok, "model": "ltuas-a6"}), 404)["message"]
    _error(httpx.post(f"{server.url}/v1/chat/completions", content=b"{nope", timeout=10,
                      headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}), 400)
    _error(_chat(server, ok, key=None), 401, "invalid_api_key")
    _error(_chat(server, ok, key="sk-wrong"), 401, "invalid_api_key")
    big = audio_message("What is it?", clip_bytes(6, seconds=8.0))
    _error(_chat(server, {**ok, "messages": [big]}), 413, "upload_too_large")
    files = {"file": ("long.wav", clip_bytes(6, seconds=8.0))}
    _error(httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "tiny"}, files=files,
                      headers={"Authorization": f"Bearer {KEY}"}, timeout=60), 413, "upload_too_large")
    files = {"file": ("clip.wav", wav)}
    _error(httpx.post(f"{server.url}/v1/audio/transcriptions", data={"model": "tiny", "response_format": "docx"},
                      files=files, headers={"Authorization": f"Bearer {KEY}"}, timeout=60), 400, "unsupported_value")
    _error(httpx.get(f"{server.url}/v1/nothing-here", headers={"Authorization": f"Bearer {KEY}"}), 404)
    assert httpx.get(f"{server.url}/health").status_code == 200  # no key needed to ask whether it is up

    reply = client_for(server, KEY).chat.completions.create(**ok)
    assert reply.choices[0].message.content is not None


def test_openai_client_raises_its_own_error_types(tiny_engine, serve, client_for):
    import openai

    server = serve(tiny_engine, api_key=KEY)
    messages = [audio_message("What is it?", clip_bytes(5))]
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "sk-wrong").chat.completions.create(model="tiny", messages=messages)
    with pytest.raises(openai.NotFoundError):
        client_for(server, KEY).chat.completions.create(model="gpt-4o", messages=messages)


def test_a_full_queue_answers_429_with_retry_after(tiny_engine, serve):
    engine = Paced(tiny_engine)
    engine.gate.clear()
    server = serve(engine, max_queue=1)
    body = {"model": "tiny", "max_tokens": 3, "messages": [audio_message("Busy?", clip_bytes(7))]}
    results: list[httpx.Response] = []
    running = threading.Thread(target=lambda: results.append(_chat(server, body, key=None)))
    running.start()
    assert engine.entered.wait(30)  # the first request holds the engine
    waiting = threading.Thread(target=lambda: results.append(_chat(server, body, key=None)))
    waiting.start()
    for _ in range(200):
        if httpx.get(f"{server.url}/health").json()["waiting"] == 1:
            break
        threading.Event().wait(0.02)
    full = _chat(server, body, key=None)
    _error(full, 429, "queue_full")
    assert int(full.headers["Retry-After"]) >= 1
    engine.gate.set()
    running.join(60)
    waiting.join(60)
    assert [r.status_code for r in results] == [200, 200]
    assert _chat(server, body, key=None).status_code == 200


def test_no_model_loaded_is_503(serve):
    server = serve(None)
    body = {"model": "tiny", "messages": [audio_message("Hi?", clip_bytes(5))]}
    _error(_chat(server, body, key=None), 503, "model_not_loaded")
    assert httpx.get(f"{server.url}/health").status_code == 503


def test_exposing_the_server_needs_a_key_and_a_taken_port_is_reported(tiny_engine, serve):
    from ltu_desktop.server import Server, ServeError, create_app

    with pytest.raises(ServeError, match="api-key"):
        Server(create_app(lambda: tiny_engine), "0.0.0.0", 0)
    taken = serve(tiny_engine)
    with pytest.raises(ServeError, match="Could not listen"):
        Server(create_app(lambda: tiny_engine), "127.0.0.1", taken.port).start()


def test_an_engine_failure_is_a_500_error_object_also_mid_stream(tiny_engine, serve, client_for):
    import openai

    from ltu_desktop.engine.types import EngineError

    class OutOfMemory(Paced):
        def prepare(self, *args, **kwargs):
            raise EngineError("Out of memory while answering; try a smaller precision.")

    server = serve(OutOfMemory(tiny_engine))
    body = {"model": "tiny", "max_tokens": 3, "messages": [audio_message("Hi?", clip_bytes(11))]}
    assert "Out of memory" in _error(_chat(server, body, key=None), 500, "engine_error")["message"]
    with pytest.raises(openai.APIError, match="Out of memory"):
        list(client_for(server).chat.completions.create(**body, stream=True))
    assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
