"""A local OpenAI-compatible API (FastAPI + uvicorn) over the loaded engine; see README "Serve on localhost"."""

from .app import Served, create_app
from .runner import Server, ServeError, check_exposure

__all__ = ["Served", "Server", "ServeError", "check_exposure", "create_app"]
