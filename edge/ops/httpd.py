"""A small HTTP port: `/healthz` (liveness of the frame loop) and `/metrics` (Prometheus text)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """Serves in a daemon thread. `healthy()` returns (ok, reason); /healthz answers 200 or 503 with it."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]]
    ) -> None:
        handler = _handler(registry, healthy)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self._thread.start()
        log.info("HTTP: /healthz and /metrics on port %d", self.port)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(registry: CollectorRegistry, healthy: Callable[[], tuple[bool, str]]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                ok, reason = healthy()
                self._send(200 if ok else 503, reason.encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
            log.debug("HTTP: %s", format % args)

    return Handler
