"""The benchmark's scenes hold what they claim: a faceless real background, and exactly the pasted faces."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tooling.bench.edge import crowd_frames, faceless_background, make_scene, throughput


@pytest.mark.parametrize("faces", [0, 1, 5])
def test_scene_has_the_faces_it_claims(fast_pipeline: FacePipeline, shared_data: Path, faces: int) -> None:
    frames = make_scene(shared_data, faceless_background(shared_data, fast_pipeline), faces, frames=3)
    assert frames[0].shape == (360, 640, 3)
    run = throughput(fast_pipeline, frames, ScheduleConfig())
    assert run.faces == faces and run.fps > 0 and run.cpu_ms > 0
    assert sum(run.shares.values()) == pytest.approx(1.0)


def test_faces_come_and_go(fast_pipeline: FacePipeline, shared_data: Path) -> None:
    frames = make_scene(
        shared_data, faceless_background(shared_data, fast_pipeline), 1, frames=6, on_off_frames=(2, 3)
    )  # shown in frames 0-1 and 5, hidden in 2-4
    found = [len(fast_pipeline.detect(f)) for f in frames]
    assert found == [1, 1, 0, 0, 0, 1]


def test_two_cameras_and_the_real_crowd(fast_pipeline: FacePipeline, shared_data: Path) -> None:
    frames = make_scene(shared_data, faceless_background(shared_data, fast_pipeline), 1, frames=3)
    two = throughput(fast_pipeline, frames, ScheduleConfig(), cameras=2)
    assert two.faces == 1 and two.fps > 0  # per camera: each camera saw each frame
    crowd = throughput(fast_pipeline, crowd_frames(shared_data, 3), ScheduleConfig(full_every_frames=1))
    assert crowd.faces >= 3  # 5-10 faces of 40-150 px in the real clip
