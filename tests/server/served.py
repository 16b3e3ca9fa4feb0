"""Helpers for the server tests: clips as file bytes, chat messages with audio, a paced engine, and the
`serve` / `client_for` fixtures (here, not in a conftest.py: tests/ui imports its own conftest by name)."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from ltu_desktop.audio.io import SAMPLE_RATE


def clip_bytes(seed: int, seconds: float = 3.0, fmt: str = "WAV") -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    samples = (rng.standard_normal(int(SAMPLE_RATE * seconds)) * 0.1).astype(np.float32)
    sf.write(buf, samples, SAMPLE_RATE, format=fmt)
    return buf.getvalue()


def audio_message(question: str, data: bytes, fmt: str = "wav") -> dict:
    return {"role": "user", "content": [
        {"type": "text", "text": question},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}]}


class Paced:
    """The tiny engine behind a gate (held until opened) and a pause per token: a busy model on demand."""

    def __init__(self, engine, pause: float = 0.0):
        self._engine, self.pause = engine, pause
        self.gate, self.entered = threading.Event(), threading.Event()
        self.gate.set()
        self.answers: list = []  # every Answer, in order

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def prepare(self, *args, **kwargs):
        self.entered.set()
        assert self.gate.wait(30)
        return self._engine.prepare(*args, **kwargs)

    def answer(self, *args, **kwargs):
        for piece in self._engine.answer(*args, **kwargs):
            time.sleep(self.pause)
            yield piece
        self.answers.append(self._engine.last_answer)


@pytest.fixture
def serve():
    """serve(engine, **create_app options) -> a started Server; stopped after the test."""
    from ltu_desktop.server import Server, create_app

    servers = []

    def start(engine, **options):
        options.setdefault("loadable", lambda: [{"id": "ltuas-a6", "label": "LTU-AS", "ready": False}])
        server = Server(create_app(lambda: engine, **options), "127.0.0.1", 0).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client_for():
    from openai import OpenAI

    def make(server, api_key: str = "unused"):
        return OpenAI(base_url=f"{server.url}/v1", api_key=api_key, max_retries=0, timeout=60)
    return make
