"""Prometheus metrics an operator watches, in one registry per agent (tests run several agents)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)


class EdgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.frames = Counter("facefleet_edge_frames", "frames processed", ["camera"], registry=r)
        self.dropped = Counter(
            "facefleet_edge_frames_dropped",
            "camera frames skipped: a newer one was there first",
            ["camera"],
            registry=r,
        )
        self.lag = Histogram(
            "facefleet_edge_frame_lag_seconds",
            "capture to the end of processing, per frame",
            ["camera"],
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.fps = Gauge("facefleet_edge_fps", "frames processed per second (last 10 s)", ["camera"], registry=r)
        self.camera_up = Gauge("facefleet_edge_camera_connected", "1 while the camera delivers", ["camera"], registry=r)
        self.reconnects = Gauge("facefleet_edge_camera_reconnects", "camera reconnect attempts", ["camera"], registry=r)
        self.stage = Histogram(
            "facefleet_edge_stage_seconds",
            "time per frame in each pipeline stage",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.faces = Counter("facefleet_edge_faces", "faces detected", ["camera"], registry=r)
        self.embedded = Counter("facefleet_edge_embeddings", "faces embedded", ["camera"], registry=r)
        self.events = Counter("facefleet_edge_events", "track events stored", ["type"], registry=r)
        self.active_tracks = Gauge("facefleet_edge_active_tracks", "active tracks", registry=r)
        self.frame_queue = Gauge("facefleet_edge_frame_queue", "cameras with a frame waiting", registry=r)
        self.outbox_backlog = Gauge("facefleet_edge_outbox_backlog", "events not yet acknowledged", registry=r)
        self.outbox_dropped = Gauge("facefleet_edge_outbox_dropped", "events dropped past the outbox bound", registry=r)
        self.mqtt_connected = Gauge("facefleet_edge_mqtt_connected", "1 while connected to the broker", registry=r)
        self.updates = Counter("facefleet_edge_updates", "update attempts by result", ["kind", "result"], registry=r)
        self.updates_refused = Counter(
            "facefleet_edge_updates_refused",
            "announcements refused before any request, by reason",
            ["reason"],
            registry=r,
        )
