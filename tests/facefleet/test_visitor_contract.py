"""The template on the wire and ignore entries in the gallery file (schema 2; schema 1 reads as none)."""

from __future__ import annotations

import base64
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from facefleet.gallery import Gallery, GalleryError, IgnoreEntries, build_gallery
from facefleet.wire import EmbeddingPayload, TrackEvent
from tooling.visitor_eval.metrics import cluster_quality

T = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _unit(dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_template_round_trip_within_float16() -> None:
    v = _unit(128)
    payload = EmbeddingPayload.model_validate_json(EmbeddingPayload.from_vector(v).model_dump_json())
    assert payload.dim == 128 and len(payload.data_b64) == 344
    assert float(payload.vector() @ v) > 0.9999


@pytest.mark.parametrize(
    "data, dim",
    [
        (base64.b64encode(np.ones(64, "<f2").tobytes()).decode(), 128),  # 64 values said to be 128
        (base64.b64encode(np.full(128, 0.5, "<f2").tobytes()).decode(), 128),  # not a unit vector
        (base64.b64encode(np.full(128, np.nan, "<f2").tobytes()).decode(), 128),  # not finite
        ("not base64!", 128),
        ("A" * 20000, 4096),  # longer than any 4096-d template
    ],
)
def test_bad_templates_are_refused(data: str, dim: int) -> None:
    with pytest.raises(ValidationError):
        EmbeddingPayload(dim=dim, data_b64=data)


def test_template_only_on_track_ended_with_a_model() -> None:
    template = EmbeddingPayload.from_vector(_unit(128))
    base = dict(event_id="e" * 32, seq=1, device_id="door-1", camera="c", track_id=1, ts=T, started_at=T)
    TrackEvent(**base, type="track_ended", model_id="sface", template=template)
    for bad in ({"type": "track_started", "model_id": "sface"}, {"type": "track_ended", "model_id": ""}):
        with pytest.raises(ValidationError):
            TrackEvent(**base, template=template, **bad)
    with pytest.raises(ValidationError):
        TrackEvent(**base, type="track_ended", person_id="p1", ignored=True)


def _gallery(ignores: IgnoreEntries | None = None) -> Gallery:
    embeddings = np.stack([_unit(128, i) for i in range(4)])
    return build_gallery("7", "sface", ["a", "b"], ["A", "B"], embeddings, np.array([0, 0, 1, 1]), ignores=ignores)


def test_ignore_entries_travel_in_the_gallery_file(tmp_path: Path) -> None:
    visitor = _unit(128, 9)
    ignores = IgnoreEntries(("v-1",), np.array([0]), visitor[None])
    _gallery(ignores).write(tmp_path / "g.sqlite")
    loaded = Gallery.load(tmp_path / "g.sqlite")
    assert loaded.ignores.ids == ("v-1",)
    assert loaded.ignore_scores(np.stack([visitor, _unit(128, 0)])).round(3).tolist()[0] == 1.0
    assert Gallery.load(tmp_path / "g.sqlite").ignore_scores(np.zeros((0, 128))).shape == (0,)


def test_schema_1_reads_as_no_ignores_and_unknown_schemas_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _gallery().write(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE ignore_templates")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    db.close()
    old = Gallery.load(path)
    assert old.person_ids == ("a", "b") and old.ignores.ids == ()
    assert old.ignore_scores(_unit(128)[None]).tolist() == [-1.0]
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    db.close()
    with pytest.raises(GalleryError, match="schema 4"):
        Gallery.load(path)


@pytest.mark.parametrize(
    "truth, labels, pairwise_p, pairwise_r, bcubed_f",
    [
        ([0, 0, 1, 1], [5, 5, 7, 7], 1.0, 1.0, 1.0),  # perfect
        ([0, 0, 1, 1], [1, 2, 3, 4], 1.0, 0.0, 2 * 0.5 / 1.5),  # every item alone: precision 1, BCubed recall 1/2
        ([0, 0, 1, 1], [1, 1, 1, 1], 1 / 3, 1.0, 2 * 0.5 / 1.5),  # everything together
    ],
)
def test_cluster_quality(
    truth: list[int], labels: list[int], pairwise_p: float, pairwise_r: float, bcubed_f: float
) -> None:
    q = cluster_quality(np.array(truth), np.array(labels))
    assert (q.pairwise_precision, q.pairwise_recall) == pytest.approx((pairwise_p, pairwise_r))
    assert q.bcubed_f == pytest.approx(bcubed_f)
