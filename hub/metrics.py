"""Prometheus metrics an operator watches: enrollments and rejections, gallery builds, devices, rollouts.

One registry per hub (no process-global collectors), so several hubs in one process (tests) do not clash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from facefleet.wire import DeviceStats
from hub.db import HubDb
from hub.fleet.events import EventCounts
from hub.fleet.intake import Kind, Reason
from hub.pg_pool import PoolCounts


def count_by_state(hub_db: HubDb, table: str) -> Callable[[], dict[str, int]]:
    """Rows of `table` (devices, rollouts) by their `state`, read at each scrape."""

    def count() -> dict[str, int]:
        with hub_db.read() as db:
            return dict(db.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state").fetchall())

    return count


class _FleetCollector(Collector):
    """Device and rollout counts by state, read from the database at scrape time."""

    def __init__(
        self,
        devices_by_state: Callable[[], dict[str, int]],
        rollouts_by_state: Callable[[], dict[str, int]],
        device_stats: Callable[[], dict[str, DeviceStats]],
    ) -> None:
        self.devices_by_state = devices_by_state
        self.rollouts_by_state = rollouts_by_state
        self.device_stats = device_stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        devices = GaugeMetricFamily("facefleet_hub_devices", "devices by state", labels=["state"])
        for state, count in self.devices_by_state().items():
            devices.add_metric([state], count)
        rollouts = GaugeMetricFamily("facefleet_hub_rollouts", "rollouts by state", labels=["state"])
        for state, count in self.rollouts_by_state().items():
            rollouts.add_metric([state], count)
        backlog = GaugeMetricFamily(
            "facefleet_hub_device_outbox_backlog",
            "events a device has not delivered yet (from its stats)",
            labels=["device"],
        )
        for device_id, stats in sorted(self.device_stats().items()):
            backlog.add_metric([device_id], stats.outbox_backlog)
        yield devices
        yield rollouts
        yield backlog


class _EventCollector(Collector):
    """Track events from the MQTT subscription (kept, repeats dropped) and every device message refused."""

    def __init__(
        self, counts: Callable[[], EventCounts], refused: Callable[[], dict[tuple[Kind, Reason], int]]
    ) -> None:
        self.counts = counts
        self.refused = refused

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = self.counts()
        events = CounterMetricFamily("facefleet_hub_events", "MQTT track events by outcome", labels=["outcome"])
        events.add_metric(["received"], counts.received)
        events.add_metric(["duplicate"], counts.duplicates)
        refused = CounterMetricFamily(
            "facefleet_hub_mqtt_refused", "device messages refused, by kind and reason", labels=["kind", "reason"]
        )
        for (kind, reason), count in self.refused().items():
            refused.add_metric([kind, reason], count)
        yield events
        yield refused


class PublishCollector(Collector):
    """What the hub publishes: messages the MQTT client refused (its queue full), and Home Assistant's
    retained queue (`hub.fleet.retained_queue`) by outcome, with what it holds now."""

    def __init__(
        self,
        link_refused: Callable[[], int],
        queue_counts: Callable[[], dict[str, int]],
        queue_pending: Callable[[], int],
    ) -> None:
        self.link_refused = link_refused
        self.queue_counts = queue_counts
        self.queue_pending = queue_pending

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "facefleet_hub_mqtt_publish_failed", "publishes the MQTT client refused", value=self.link_refused()
        )
        ha = CounterMetricFamily(
            "facefleet_hub_home_assistant_messages", "Home Assistant's retained messages by outcome", labels=["outcome"]
        )
        for outcome, count in self.queue_counts().items():
            ha.add_metric([outcome], count)
        yield ha
        yield GaugeMetricFamily(
            "facefleet_hub_home_assistant_pending",
            "Home Assistant messages waiting or unacknowledged",
            value=self.queue_pending(),
        )


class StoreCollector(Collector):
    """The store's connections (PostgreSQL; both stay 0 on SQLite): connections made again after the server
    dropped them (a restart), and units of work failed because it could not be reached (answered 503)."""

    def __init__(self, counts: Callable[[], PoolCounts]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = self.counts()
        yield CounterMetricFamily(
            "facefleet_hub_db_reconnects",
            "database connections made again after the server dropped them",
            value=counts.reconnects,
        )
        yield CounterMetricFamily(
            "facefleet_hub_db_unavailable",
            "units of work failed because the database server could not be reached",
            value=counts.unavailable,
        )


class HubMetrics:
    def __init__(
        self,
        devices_by_state: Callable[[], dict[str, int]],
        rollouts_by_state: Callable[[], dict[str, int]],
        device_stats: Callable[[], dict[str, DeviceStats]],
        event_counts: Callable[[], EventCounts],
        refused: Callable[[], dict[tuple[Kind, Reason], int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.samples_added = Counter(
            "facefleet_hub_samples_added", "samples stored in the library", registry=self.registry
        )
        self.faces_rejected = Counter(
            "facefleet_hub_faces_rejected", "faces not stored, by reason", ["reason"], registry=self.registry
        )
        self.enroll_seconds = Histogram(
            "facefleet_hub_enroll_seconds",
            "time to analyze one upload",
            ["kind"],
            buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160),
            registry=self.registry,
        )
        self.gallery_builds = Counter("facefleet_hub_gallery_builds", "gallery versions built", registry=self.registry)
        self.registry.register(_FleetCollector(devices_by_state, rollouts_by_state, device_stats))
        self.registry.register(_EventCollector(event_counts, refused))

    def render(self) -> bytes:
        return generate_latest(self.registry)
