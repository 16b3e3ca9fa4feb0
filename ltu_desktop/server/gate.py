"""What every request passes before a route sees it: the API key (401), the body size (413), and the log."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from fastapi.responses import JSONResponse

from .formats import ApiError


@dataclass(frozen=True)
class Served:
    """A request as it arrives (`done` False) and again when it ends, for whoever shows them (the app)."""

    id: int
    method: str
    path: str
    status: int = 0
    seconds: float = 0.0
    summary: str = ""
    done: bool = False
    left: bool = False  # the client hung up before the whole response was sent


class Gate:
    """Before any body is read: the API key (401) and the upload size (413); after: the request log."""

    def __init__(self, app, api_key: str | None, max_body: int, on_request: Callable[[Served], None] | None):
        self.app, self.api_key, self.max_body, self.on_request = app, api_key, max_body, on_request
        self._count = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self._count += 1
        arrived = Served(self._count, scope["method"], scope["path"])
        t0, status, sent = time.perf_counter(), [0], [False]
        state = scope.setdefault("state", {})
        self._tell(arrived)

        async def logged_send(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
            sent[0] |= message["type"] == "http.response.body" and not message.get("more_body")

        try:
            refusal = self._refusal(scope)
            if refusal is None:
                receive, refusal = await self._limited(scope, receive)
            if refusal is not None:
                return await JSONResponse(refusal.body(), refusal.status, refusal.headers)(scope, receive, logged_send)
            await self.app(scope, receive, logged_send)
        finally:
            self._tell(replace(arrived, status=status[0], seconds=time.perf_counter() - t0, done=True,
                               summary=str(state.get("summary", ""))[:200], left=not sent[0]))

    def _tell(self, served: Served) -> None:
        if self.on_request is not None:
            try:
                self.on_request(served)
            except Exception:  # a broken listener must not break serving
                pass

    def _refusal(self, scope) -> ApiError | None:
        headers = dict(scope["headers"])
        if self.api_key and scope["path"].startswith("/v1"):
            given = headers.get(b"authorization", b"").decode("latin-1")
            if not given.startswith("Bearer ") or not _same(given[7:].strip(), self.api_key):
                what = "Incorrect API key provided." if given else "Missing API key: send 'Authorization: Bearer KEY'."
                return ApiError(401, what, "invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self._too_large(int(length))
        return None

    async def _limited(self, scope, receive):
        """A body of unknown length is read here, up to the limit, and handed on."""
        headers = dict(scope["headers"])
        if b"content-length" in headers or headers.get(b"transfer-encoding") is None:
            return receive, None
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive, None
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                return receive, self._too_large(len(body))
        replayed = [False]

        async def replay():
            if not replayed[0]:
                replayed[0] = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()
        return replay, None

    def _too_large(self, size: int) -> ApiError:
        mb = 2**20
        return ApiError(413, f"The request is {size / mb:.1f} MB; this server takes at most "
                             f"{self.max_body / mb:.1f} MB (ltu-desktop serve --max-upload-mb).", "upload_too_large")


def _same(a: str, b: str) -> bool:
    return secrets.compare_digest(a.encode(), b.encode())
