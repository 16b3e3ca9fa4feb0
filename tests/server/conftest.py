"""A real server on 127.0.0.1 at a free port, over the tiny engine, for the official `openai` client."""

from __future__ import annotations

import pytest


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
