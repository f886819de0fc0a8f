"""`/api/stream`: recognition on the hub for thin cameras (protocol in `facefleet.stream`, hub/README.md).

A WebSocket, not a request: browsers cannot set headers on one, so the token travels in the first message
(checked there by `hub.streams.service`), and the route takes no bearer dependency.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from facefleet.stream import PATH
from hub.api.deps import StreamsDep
from hub.streams.session import serve_stream

router = APIRouter(tags=["stream"])


@router.websocket(PATH)
async def stream(websocket: WebSocket, streams: StreamsDep) -> None:
    """Frames in (JPEG, binary messages), faces and track events out (text JSON messages)."""
    await serve_stream(websocket, streams)
