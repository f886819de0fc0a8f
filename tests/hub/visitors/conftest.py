"""Visitor fixtures: a real hub (library, store, suggestions) on a temporary folder, and LFW faces as tracks."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from facefleet.wire import EmbeddingPayload, TrackEvent
from hub.service import Hub
from hub.settings import HubSettings, VisitorConfig
from models.eval.lfw import crops_for_images
from tests.conftest import LFW
from tooling.visitor_eval.hubs import T0
from tooling.visitor_eval.lfw_split import visitor_split


@dataclass(frozen=True)
class LfwFaces:
    """Aligned crops (N, 112, 112, 3) RGB, unit embeddings (N, D) and person labels (N,) of a few LFW people."""

    crops: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray

    def jpeg(self, i: int) -> bytes:
        return cv2.imencode(".jpg", cv2.cvtColor(self.crops[i], cv2.COLOR_RGB2BGR))[1].tobytes()


@pytest.fixture(scope="session")
def lfw_faces(pipeline) -> LfwFaces:  # type: ignore[no-untyped-def]
    """12 of the evaluation's test people (outside pairsDevTrain.txt), their first 4 photos each."""
    test = visitor_split(LFW).test
    people = sorted(set(test.labels.tolist()))[:12]
    keep = [i for p in people for i in np.flatnonzero(test.labels == p)[:4].tolist()]
    crops, _ = crops_for_images(pipeline.detector, [test.paths[i] for i in keep])
    return LfwFaces(crops, pipeline.embedder.embed(crops), test.labels[keep])


def track_event(
    event_id: str,
    template: np.ndarray,
    jpeg: bytes | None,
    model_id: str = "sface",
    person_id: str | None = None,
    **fields: object,
) -> TrackEvent:
    """A `track_ended` event as an agent sends it (fields override the defaults)."""
    values: dict[str, object] = dict(
        event_id=event_id,
        seq=1,
        type="track_ended",
        device_id="door-1",
        camera="front",
        track_id=1,
        ts=T0,
        started_at=T0,
        ended_at=T0,
        frames=5,
        model_id=model_id,
        person_id=person_id,
        name=person_id,
        confidence=0.7 if person_id else 0.1,
        liveness=0.8,
        template=EmbeddingPayload.from_vector(template),
        best_crop_jpeg_b64=base64.b64encode(jpeg).decode() if jpeg else None,
    )
    return TrackEvent.model_validate(values | fields)


@pytest.fixture
def make_hub(tmp_path: Path, pipeline) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """Hubs (no HTTP, no broker) with visitor settings overrides; closed at the end."""
    hubs: list[Hub] = []

    def make(**visitors: object) -> Hub:
        settings = HubSettings(data_dir=tmp_path / f"hub{len(hubs)}", visitors=VisitorConfig.model_validate(visitors))
        hubs.append(Hub(settings, pipeline))
        return hubs[-1]

    yield make
    for hub in hubs:
        hub.db.close()
