"""The frame loop's own figures: frames a newer frame overtook (dropped), lag from capture, in /metrics."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from edge.config import RecognitionConfig, TrackerConfig
from edge.frame_loop import FrameLoop
from edge.ops.metrics import EdgeMetrics
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from edge.recognize.processor import CameraProcessor, Frame
from facefleet.gallery import Gallery
from facefleet.wire import CameraStats
from models.detect.schedule import ScheduleConfig


class SlotReader:
    """A reader whose one-frame slot holds the frames given, in turn (what a camera left there)."""

    def __init__(self, name: str, frames: list[Frame]) -> None:
        self.name, self.frames, self.finished = name, list(frames), False

    def latest(self, after_index: int) -> Frame | None:
        return self.frames.pop(0) if self.frames and self.frames[0].index > after_index else None

    def has_frame_after(self, after_index: int) -> bool:
        return bool(self.frames)


@pytest.mark.parametrize(
    ("indices", "dropped"),
    [
        ([1, 2, 3], 0),  # every frame taken
        ([1, 4, 5, 9], 5),  # 2, 3 and 6, 7, 8 were overwritten in the slot before the loop came
        ([3], 2),  # the loop started late: 1 and 2 never seen
    ],
)
def test_dropped_frames_and_lag(pipeline, indices: list[int], dropped: int) -> None:
    captured = datetime.now(timezone.utc) - timedelta(milliseconds=200)
    frames = [Frame("cam", np.zeros((48, 64, 3), np.uint8), captured, i) for i in indices]
    holder = ModelGalleryHolder(ModelGallery(pipeline, Gallery.empty(pipeline.model_id, pipeline.embedder.dim)))
    metrics = EdgeMetrics()
    loop = FrameLoop(
        [SlotReader("cam", frames)],
        {
            "cam": CameraProcessor(
                "cam",
                holder,
                TrackerConfig(),  # type: ignore[list-item]
                RecognitionConfig(),
                ScheduleConfig(),
            )
        },
        lambda events: None,
        metrics,
        threading.Event(),
        3.0,
    )
    for _ in indices:
        loop._round()
    assert loop.dropped["cam"] == dropped
    assert (metrics.registry.get_sample_value("facefleet_edge_frames_dropped_total", {"camera": "cam"}) or 0) == dropped
    assert loop.lag_ms["cam"] >= 200  # captured 200 ms before it was processed
    lags = metrics.registry.get_sample_value("facefleet_edge_frame_lag_seconds_count", {"camera": "cam"})
    assert lags == len(indices)
    stats = CameraStats(
        fps=loop.fps("cam"), connected=True, reconnects=0, dropped=loop.dropped["cam"], lag_ms=loop.lag_ms["cam"]
    )
    assert CameraStats.model_validate_json(stats.model_dump_json()) == stats
