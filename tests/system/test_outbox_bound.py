"""An agent process with no broker for a long while: its outbox keeps only the newest `max_events`, counts
what it dropped (in /metrics), and delivers the rest, in order, when the broker returns.

(The outbox bound itself, camera streams that drop and return, and a single agent across a broker restart
are covered in-process by tests/edge; this is the same promise at process level.)
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.system.conftest import System
from tooling.sim.procs import free_port, wait_for

MAX_EVENTS = 10


def dropped(metrics_url: str) -> float:
    match = re.search(r"^facefleet_edge_outbox_dropped (\S+)$", httpx.get(metrics_url, timeout=5).text, re.M)
    return float(match.group(1)) if match else 0.0


def test_outbox_drops_the_oldest_past_its_bound_and_counts_them(fleet: System, people_clip: Path) -> None:
    fleet.start_broker()
    sub = fleet.subscriber("facefleet/+/events")
    try:
        fleet.procs.stop("mosquitto")  # the subscriber's session is saved; nobody can publish now
        http_port = free_port()
        fleet.start_agent(
            "edge-1",
            people_clip,
            outbox={"max_events": MAX_EVENTS},
            http={"port": http_port},
            mqtt={"reconnect_min_s": 1, "reconnect_max_s": 2, "stats_every_s": 1},
            cameras=[
                {
                    "name": "door",
                    "source": {"type": "file", "path": str(people_clip), "loop": True, "pacing": "every_frame"},
                }
            ],
        )
        metrics_url = f"http://127.0.0.1:{http_port}/metrics"
        wait_for(lambda: dropped(metrics_url) >= 3, "the outbox to overflow", 180)
        fleet.procs.stop("edge-1")  # freeze the outbox: the agent resumes from it after a restart
        fleet.start_broker()
        # Back with its camera gone, so the outbox holds exactly what was kept.
        fleet.start_agent(
            "edge-1",
            people_clip,
            outbox={"max_events": MAX_EVENTS},
            http={"port": http_port},
            mqtt={"reconnect_min_s": 1, "reconnect_max_s": 2, "stats_every_s": 1},
            cameras=[{"name": "door", "source": {"type": "file", "path": str(fleet.workdir / "gone")}}],
        )
        sub.wait_for(lambda s: len(s.json("/events")) >= MAX_EVENTS, 60, "the kept events")
        wait_for(lambda: dropped(metrics_url) > 0, "the restored drop count in /metrics", 30)  # set with stats
        count_dropped = dropped(metrics_url)
        seqs = sorted({e["seq"] for e in sub.json("/events")})
        assert len(seqs) == MAX_EVENTS, seqs
        assert seqs == list(range(int(count_dropped) + 1, int(count_dropped) + MAX_EVENTS + 1)), (seqs, count_dropped)
        assert dropped(metrics_url) == count_dropped
    finally:
        sub.close()
