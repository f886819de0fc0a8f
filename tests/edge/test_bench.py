"""The benchmark's scenes hold what they claim: a faceless real background, and exactly the pasted faces."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.bench import faceless_background, make_scene, throughput
from models.pipeline import FacePipeline


@pytest.mark.parametrize("faces", [0, 1, 5])
def test_scene_has_the_faces_it_claims(fast_pipeline: FacePipeline, shared_data: Path, faces: int) -> None:
    frames = make_scene(shared_data, faceless_background(shared_data, fast_pipeline), faces, frames=3)
    assert frames[0].shape == (360, 640, 3)
    fps, cpu_s, shares, found = throughput(fast_pipeline, frames)
    assert found == faces and fps > 0 and cpu_s > 0
    assert sum(shares.values()) == pytest.approx(1.0)
