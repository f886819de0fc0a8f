"""An HTTP proxy in front of the hub that can slow downloads down, so a device can be killed mid-download."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

FORWARDED = ("authorization", "range")
RETURNED = ("content-type", "content-length", "content-range", "accept-ranges", "etag", "last-modified")


class SlowProxy:
    """GETs to `http://127.0.0.1:<port>` go to `target`; bodies trickle at `chunk_bytes` per `delay_s`."""

    def __init__(self, target: str, chunk_bytes: int = 1024) -> None:
        self.target = target
        self.chunk_bytes = chunk_bytes
        self.delay_s = 0.0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                headers = {k: v for k, v in self.headers.items() if k.lower() in FORWARDED}
                with httpx.stream("GET", proxy.target + self.path, headers=headers, timeout=30) as answer:
                    self.send_response(answer.status_code)
                    for key, value in answer.headers.items():
                        if key.lower() in RETURNED:
                            self.send_header(key, value)
                    self.end_headers()
                    try:
                        for chunk in answer.iter_bytes(proxy.chunk_bytes):
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            time.sleep(proxy.delay_s)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the device died mid-download: that is the point

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the http.server API
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
