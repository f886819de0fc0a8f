"""Request bodies bounded before anything reads them, and bodies of unauthenticated requests never read.

FastAPI reads and parses a request's body (JSON, or a multipart form spooled to disk) before it runs the
dependencies that check the token, so without this an anonymous client could make the hub parse a 200 MB
JSON body (hundreds of MB of Python objects) only to answer 401. This ASGI middleware runs first:

- a request to `/api/...` that carries a body (a `Content-Length` above 0, or chunked) without a known,
  unrevoked bearer token is answered 401 at once, its body unread (which scope the route needs is still
  the route's own check);
- a body is at most `MAX_FORM_BODY_BYTES` for a multipart form (the largest upload, a model file, is
  checked again by its route) and `MAX_BODY_BYTES` for anything else (JSON): a declared `Content-Length`
  over the bound is answered 413 before reading, a chunked body is counted as it arrives and cut off
  with 413 when it passes the bound.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.pg_pool import StoreUnavailable

MAX_BODY_BYTES = 1024 * 1024  # the largest JSON body: a rollout naming 10,000 devices is about 0.7 MB
MAX_FORM_BODY_BYTES = 2 * 1024**3 + 1024 * 1024  # a model file (hub.api.galleries.MAX_MODEL_BYTES) and its form
TokenCheck = Callable[[str], bool]
"""Whether a bearer token is known and not revoked."""


class RequestBounds:
    def __init__(self, app: ASGIApp, token_known: TokenCheck) -> None:
        self.app = app
        self.token_known = token_known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = _declared_length(headers)
        has_body = declared != 0
        try:
            refused = (
                has_body
                and scope["path"].startswith("/api/")
                and not await run_in_threadpool(self._authenticated, headers)
            )
        except StoreUnavailable as exc:  # the token could not be looked up: "try again", as the routes answer
            await _reply(send, 503, str(exc))
            return
        if refused:
            await _reply(send, 401, "missing, unknown or revoked bearer token", [(b"www-authenticate", b"Bearer")])
            return
        limit = MAX_FORM_BODY_BYTES if headers.get("content-type", "").startswith("multipart/") else MAX_BODY_BYTES
        if declared is not None and declared > limit:
            await _reply(send, 413, f"request body of {declared} bytes; at most {limit} here")
            return
        await self._bounded(scope, receive, send, limit)

    def _authenticated(self, headers: dict[str, str]) -> bool:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and bool(token.strip()) and self.token_known(token.strip())

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app, counting the body as it is received; past `limit` answer 413 (unless the app has
        answered already) and let the app see the client gone, whatever it sends after that dropped."""
        received, started, cut = 0, False, False

        async def counted() -> Message:
            nonlocal received, cut
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit and not cut:
                cut = True
                if not started:
                    await _reply(send, 413, f"request body over {limit} bytes")
            return {"type": "http.disconnect"} if cut else message

        async def tracked(message: Message) -> None:
            nonlocal started
            if cut:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, tracked)


def _declared_length(headers: dict[str, str]) -> int | None:
    """The declared Content-Length; None when the body is chunked (or its length is not a number)."""
    if "content-length" in headers:
        try:
            return max(0, int(headers["content-length"]))
        except ValueError:
            return None
    return None if "transfer-encoding" in headers else 0


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
