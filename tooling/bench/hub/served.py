"""A hub served in this process for a benchmark: a temporary data folder, a free port, uvicorn on a thread."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from hub.app import create_app
from hub.service import Hub
from hub.settings import HubSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_hub(**settings: Any) -> Iterator[tuple[Hub, HubSettings]]:
    """The hub and its settings while it answers HTTP; stopped (and its data folder removed) on leaving."""
    with tempfile.TemporaryDirectory() as tmp:
        config = HubSettings(data_dir=Path(tmp), port=free_port(), **settings)
        app = create_app(config)
        server = uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield app.state.hub, config
        finally:
            server.should_exit = True
            thread.join(timeout=30)
