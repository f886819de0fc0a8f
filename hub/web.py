"""The hub's page and API documentation, served with headers that forbid framing and limit what runs.

Every response carries `X-Frame-Options: DENY` and a Content-Security-Policy with `frame-ancestors 'none'`
(no other site can frame the page to trick a click) and `default-src 'self'`: scripts and styles come
from the hub's own files only, never inline and never another host; images may also be `data:` (the live
view's face crops) and `blob:` (sample thumbnails fetched with the token). Swagger UI (`/docs`) and ReDoc
(`/redoc`) are served from the files the `fastapi-offline` package ships, so they work without internet;
ReDoc injects its styles as `<style>` elements and runs its search in a `blob:` worker, so the two docs
pages also allow inline styles and blob workers, and nothing else more.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).with_name("static")
DOCS_PATHS = frozenset({"/docs", "/redoc"})
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = PAGE_POLICY + "; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:"


class SecurityHeaders:
    """ASGI middleware: the framing and content-security headers on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] in DOCS_PATHS else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] += [
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", policy.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def mount_web(app: FastAPI) -> None:
    """The page at `/`, the camera collection page at `/collect`, the thin-camera page at `/recognise`, their
    files under `/static`, Swagger UI at `/docs`, ReDoc at `/redoc`, and the headers.

    The app must be made with `docs_url=None, redoc_url=None` (FastAPI's own pages load from a CDN).
    """
    docs_assets = Path(str(resources.files("fastapi_offline") / "static"))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=docs_assets), name="docs-assets")
    for path, page in (
        ("/", "index.html"),
        ("/collect", "collect.html"),
        ("/recognise", "recognise.html"),
        ("/docs", "docs.html"),
        ("/redoc", "redoc.html"),
    ):
        app.add_api_route(path, _page(STATIC / page), methods=["GET"], include_in_schema=False)
    app.add_middleware(SecurityHeaders)


def _page(path: Path) -> Callable[[], FileResponse]:
    def serve() -> FileResponse:
        return FileResponse(path, media_type="text/html")

    return serve
