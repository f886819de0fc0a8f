"""Prometheus figures of the visitor intake, read at scrape time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.visitors.intake import IntakeCounts


class VisitorCollector(Collector):
    """`facefleet_hub_visitor_tracks{outcome}` since start; `facefleet_hub_visitors` and
    `facefleet_hub_stored_tracks` now."""

    def __init__(self, counts: Callable[[], IntakeCounts], stored: Callable[[], tuple[int, int]]) -> None:
        self.counts = counts
        self.stored = stored

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        tracks = CounterMetricFamily(
            "facefleet_hub_visitor_tracks", "ended tracks with a template by outcome", labels=["outcome"]
        )
        for outcome, value in dataclasses.asdict(self.counts()).items():
            tracks.add_metric([outcome], value)
        visitors, stored = self.stored()
        yield tracks
        yield GaugeMetricFamily("facefleet_hub_visitors", "visitors (clusters of unknown tracks)", value=visitors)
        yield GaugeMetricFamily("facefleet_hub_stored_tracks", "ended tracks kept (crops and templates)", value=stored)
