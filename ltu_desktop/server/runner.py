"""uvicorn serving the app: blocking for the CLI, or on a background thread that the app starts and stops."""

from __future__ import annotations

import ipaddress
import threading
import time

import uvicorn
from fastapi import FastAPI


class ServeError(RuntimeError):
    """The server cannot start (a refused address, a port in use); worded for a person."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """Anything but loopback reaches other machines, so it needs a key."""
    if not is_loopback(host) and not api_key:
        raise ServeError(f"Serving on {host} makes the model reachable from other machines: "
                         "give an --api-key (clients then send 'Authorization: Bearer KEY'), or use 127.0.0.1.")


class Server:
    """One uvicorn server for one app. `port=0` takes a free port; `port` tells which once started."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 8765, *, api_key: str | None = None,
                 log_level: str = "warning"):
        check_exposure(host, api_key)
        self.host, self.app = host, app
        self.config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                                     access_log=False, timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(self.config)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        for s in getattr(self.server, "servers", []) or []:
            for sock in s.sockets:
                return sock.getsockname()[1]
        return self.config.port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def run(self) -> None:
        """Serve until Ctrl+C (uvicorn handles the signals)."""
        self.server.run()
        if not self.server.started:
            raise ServeError(f"Could not listen on {self.host}:{self.config.port} (in use by another program?).")

    def start(self, timeout: float = 30.0) -> Server:
        """Serve on a background thread; returns once it listens."""
        self.thread = threading.Thread(target=self._serve, name="ltu-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServeError(f"Could not listen on {self.host}:{self.config.port} (in use by another program?).")
            time.sleep(0.02)
        return self

    def _serve(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            pass

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, end the running generation within a token, and wait for the thread."""
        jobs = getattr(self.app.state, "jobs", None)
        if jobs is not None:
            jobs.close()
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
            self.thread = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive() and self.server.started
