"""Prometheus figures of the thin-camera streams, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.streams.service import StreamService


class StreamCollector(Collector):
    """`facefleet_hub_streams_open` now; since start: `facefleet_hub_stream_frames{outcome}` (processed,
    dropped), `facefleet_hub_streams_refused` (at the hello) and `facefleet_hub_streams_closed{code}` (closed
    by the hub after the hello)."""

    def __init__(self, service: StreamService) -> None:
        self.service = service

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self.service
        yield GaugeMetricFamily("facefleet_hub_streams_open", "thin-camera streams open", value=s.open_streams)
        frames = CounterMetricFamily("facefleet_hub_stream_frames", "thin-camera frames by outcome", labels=["outcome"])
        frames.add_metric(["processed"], s.frames_processed)
        frames.add_metric(["dropped"], s.frames_dropped)
        yield frames
        yield CounterMetricFamily("facefleet_hub_streams_refused", "streams refused at the hello", value=s.refused)
        closed = CounterMetricFamily(
            "facefleet_hub_streams_closed", "streams the hub closed, by close code", labels=["code"]
        )
        for code, count in sorted(s.closed.items()):
            closed.add_metric([str(code)], count)
        yield closed
