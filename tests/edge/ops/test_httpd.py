"""The health port answers what the agent reports, and serves its metrics."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from edge.ops.httpd import HealthServer
from edge.ops.metrics import EdgeMetrics


def test_healthz_and_metrics() -> None:
    state = {"ok": True}
    metrics = EdgeMetrics()
    metrics.outbox_backlog.set(7)
    server = HealthServer(
        "127.0.0.1",
        0,
        metrics.registry,
        lambda: (state["ok"], "ok\n" if state["ok"] else "frame loop stalled for 31 s\n"),
    )
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        with urllib.request.urlopen(f"{base}/healthz") as resp:
            assert resp.status == 200 and resp.read() == b"ok\n"
        state["ok"] = False
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/healthz")
        assert info.value.code == 503 and b"stalled" in info.value.read()
        with urllib.request.urlopen(f"{base}/metrics") as resp:
            assert "facefleet_edge_outbox_backlog 7.0" in resp.read().decode()
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/nope")
        assert info.value.code == 404
    finally:
        server.stop()
