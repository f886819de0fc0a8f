"""The visitor store on real LFW embeddings: clustering, models kept apart, a user's decisions, re-clustering,
ignore entries, and the retention purge."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from hub.artifacts.revocations import revokes_for_new_gallery
from hub.db import utc_now
from hub.errors import ConflictError, NotFoundError
from hub.visitors.cluster import recluster, relabel
from hub.visitors.ignores import ignore_entries
from hub.visitors.maintenance import purge, recluster_all, recover
from hub.visitors.records import VisitorError
from tests.hub.visitors.conftest import track_event
from tooling.visitor_eval.hubs import visitor_labels
from tooling.visitor_eval.metrics import cluster_quality


def _feed(hub, faces, order, prefix="t"):  # type: ignore[no-untyped-def]
    ids = []
    for i in order:
        ids.append(f"track-{prefix}{i:04d}")
        assert hub.visitors.on_event(track_event(ids[-1], faces.embeddings[i], faces.jpeg(i))) is not None
    return ids


def test_lfw_photos_cluster_into_one_visitor_per_person(make_hub, lfw_faces) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub()
    order = np.random.default_rng(1).permutation(len(lfw_faces.labels)).tolist()
    ids = _feed(hub, lfw_faces, order)
    labels = visitor_labels(hub, ids)
    truth = lfw_faces.labels[order]
    quality = cluster_quality(truth, labels)
    # 12 people x 4 photos; single photos are noisier than pooled tracks, so a person may split once
    assert quality.pairwise_precision >= 0.95 and quality.bcubed_f >= 0.9, quality
    assert 12 <= quality.clusters <= 16
    recluster_all(hub.visitor_store)
    after = cluster_quality(truth, visitor_labels(hub, ids))
    assert after.bcubed_f >= quality.bcubed_f - 0.02 and after.pairwise_precision >= 0.95, after
    top = hub.visitor_store.visitors()[0]
    assert top.tracks >= 3 and top.cameras == ("door-1/front",) and top.crop_event_id is not None
    assert hub.visitor_store.crop_path(top.crop_event_id).read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_models_never_meet_and_a_wrong_size_is_refused(make_hub, lfw_faces) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub()
    face = lfw_faces.embeddings[0]
    a = hub.visitors.on_event(track_event("event-aa", face, lfw_faces.jpeg(0), model_id="sface"))
    b = hub.visitors.on_event(track_event("event-bb", face, lfw_faces.jpeg(0), model_id="sface-retrained"))
    assert a.visitor_id != b.visitor_id  # the same vector, but of two models
    wider = np.ones(256, np.float32) / 16.0
    assert hub.visitors.on_event(track_event("event-cc", wider, None, model_id="sface")) is None
    assert hub.visitors.counts.refused == 1
    assert hub.visitors.on_event(track_event("event-aa", face, None)) is None  # a repeat
    assert hub.visitors.counts.repeats == 1
    with pytest.raises(VisitorError):
        hub.visitor_store.merge(a.visitor_id, b.visitor_id)


def test_merge_ignore_delete(make_hub, lfw_faces, pipeline) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(crops_per_visitor=2)
    first = [i for i in range(len(lfw_faces.labels)) if lfw_faces.labels[i] == lfw_faces.labels[0]]
    second = [i for i in range(len(lfw_faces.labels)) if lfw_faces.labels[i] == lfw_faces.labels[4]]
    ids = _feed(hub, lfw_faces, first + second)
    store = hub.visitor_store
    a, b = store.track(ids[0]).visitor_id, store.track(ids[-1]).visitor_id
    assert a != b
    store.set_ignored(b, True)
    carrying_b = hub.galleries.build().version  # b's template as an ignore entry
    kept = store.merge(a, b)
    assert kept.tracks == 8 and kept.pinned and kept.ignored
    assert len(store.best_crops(a, 10)) == 2  # crops_per_visitor: the others keep only their template
    with pytest.raises(NotFoundError):
        store.visitor(b)
    entries = ignore_entries(store, "sface")
    assert entries.ids == (a,) and 1 <= len(entries.templates) <= 8
    assert ignore_entries(store, "other-model").ids == ()
    # a gallery of another model gets the ignored visitor's kept crops embedded with that model
    other = ignore_entries(store, "other-model", pipeline.embedder.embed)
    assert other.ids == (a,) and float((other.templates @ entries.templates.T).max()) > 0.95
    carrying_a = hub.galleries.build().version
    files = list(store.crops_dir.glob("*.jpg"))
    assert hub.deletions.delete_visitor(a) == 8 and store.count() == (0, 0)
    assert files and not any(f.exists() for f in files)
    # both galleries carried the deleted visitor's tracks (the first through the merge): revoked, files gone
    for version in (carrying_b, carrying_a):
        assert hub.artifacts.get("gallery", version).revoked
        assert [p.name for p in (hub.artifacts.root / "gallery" / version).iterdir()] == ["manifest.json"]
    with hub.db.read() as db:
        assert db.execute("SELECT visitor_id, tracks FROM visitor_deletions").fetchall() == [(a, 8)]
        with pytest.raises(ConflictError, match="visitor"):  # a gallery built while the deletion landed
            revokes_for_new_gallery(db, (a,))


def test_reclustering_keeps_pinned_visitors_together() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 64))
    noisy = np.repeat(base, 4, axis=0) + 0.3 * rng.normal(size=(12, 64))
    unit = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    labels = recluster(unit, [], 0.5)
    assert len(set(labels.tolist())) == 3 and (labels.reshape(3, 4) == labels.reshape(3, 4)[:, :1]).all()
    pinned = recluster(unit, [np.array([0, 4])], 0.5)  # a user merged a track of person 0 with one of person 1
    assert pinned[0] == pinned[4]
    ids = relabel(["v1"] * 4 + ["v2"] * 4 + [None] * 4, labels, ["new"])
    assert ids == ["v1"] * 4 + ["v2"] * 4 + ["new"] * 4


def test_retention_purges_old_tracks_keeps_ignored_and_samples(make_hub, lfw_faces, shared_data) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(retention_days=30, max_tracks=10)
    hub.enrollment.crops("Obama", [("o.jpg", (shared_data / "clips/people/obama/obama.jpg").read_bytes())])
    ids = _feed(hub, lfw_faces, range(12))
    store = hub.visitor_store
    ignored = store.track(ids[0]).visitor_id
    store.set_ignored(ignored, True)
    old = [i for i in ids if store.track(i).visitor_id != ignored][:5]
    with hub.db.transaction() as db:  # these arrived 31 days ago
        db.executemany(
            "UPDATE ended_tracks SET received = ? WHERE event_id = ?",
            [((utc_now() - timedelta(days=31)).isoformat(), e) for e in [ids[0], *old]],
        )
    crops = {e: store.crop_path(e) for e in old}
    report = purge(store, utc_now())
    assert report.tracks == 5 and all(not p.exists() for p in crops.values())
    for e in old:
        with pytest.raises(NotFoundError):
            store.track(e)
    assert store.track(ids[0]).visitor_id == ignored  # an ignored visitor's tracks are its ignore entry
    assert store.count()[1] == 7
    assert [p.name for p in hub.library.people()] == ["Obama"] and hub.library.people()[0].samples == 1
    ids += _feed(hub, lfw_faces, range(12, 18))
    assert purge(store, utc_now()).tracks == 3  # past max_tracks: the oldest go first
    assert store.count()[1] == 10 and store.track(ids[-1])
    (store.crops_dir / "orphan.jpg").write_bytes(b"x")
    assert recover(store) == 1


def test_crop_files_are_named_by_the_hub_and_stay_in_their_folder(make_hub, lfw_faces) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(crops_per_visitor=1)
    store = hub.visitor_store
    track = hub.visitors.on_event(track_event("device-chosen-0001", lfw_faces.embeddings[0], lfw_faces.jpeg(0)))
    with hub.db.read() as db:
        crop_file = db.execute("SELECT crop_file FROM ended_tracks WHERE event_id = ?", [track.event_id]).fetchone()[0]
    assert "device-chosen" not in crop_file  # the hub's own name, never the device's id
    assert store.crop_path(track.event_id).parent == store.crops_dir
    # a row stored before this rule named a file outside the folder (an enrolled person's sample crop)
    victim = hub.library.samples_dir / "person-1" / "sample-1.jpg"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"the enrolled sample")
    with hub.db.transaction() as db:
        db.execute(
            "UPDATE ended_tracks SET crop_file = ? WHERE event_id = ?",
            [f"../samples/person-1/{victim.name}", track.event_id],
        )
    with pytest.raises(NotFoundError):
        store.crop_path(track.event_id)  # never served
    assert store.best_crops(str(track.visitor_id), 5) == []
    hub.deletions.delete_visitor(str(track.visitor_id))  # trimming or deleting the track's crop never removes it
    assert victim.read_bytes() == b"the enrolled sample"


def test_the_migration_drops_tracks_stored_under_a_path_like_id(make_hub, lfw_faces) -> None:  # type: ignore[no-untyped-def]
    from hub.db import _m012_track_ids_without_paths

    hub = make_hub()
    kept = hub.visitors.on_event(track_event("agent-made-0001", lfw_faces.embeddings[0], lfw_faces.jpeg(0)))
    with hub.db.transaction() as db:
        row = dict(next(iter(db.query("SELECT * FROM ended_tracks WHERE event_id = ?", [kept.event_id]))))
        for hostile in ("../../escaped", "/tmp/absolute"):
            db.insert("ended_tracks", {**row, "event_id": hostile, "crop_file": f"{hostile}.jpg"})
        _m012_track_ids_without_paths(db)
        assert [r[0] for r in db.execute("SELECT event_id FROM ended_tracks").fetchall()] == [kept.event_id]


def test_one_device_founds_a_bounded_number_of_visitors_an_hour(make_hub) -> None:  # type: ignore[no-untyped-def]
    hub = make_hub(max_new_visitors_per_device_hour=5)
    rng = np.random.default_rng(7)
    unit = rng.normal(size=(16, 128))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)  # far apart: each would found a visitor of its own
    for i in range(12):  # one device's junk: 12 ended tracks of nobody alike
        hub.visitors.on_event(track_event(f"junk-{i:04d}", unit[i], None))
    assert hub.visitor_store.count() == (5, 5) and hub.visitors.counts.over_budget == 7
    hub.visitors.on_event(track_event("junk-0000-again", unit[0], None))  # joining a visitor costs nothing
    hub.visitors.on_event(track_event("other-0001", unit[12], None, device_id="door-2"))  # another device
    assert hub.visitor_store.count() == (6, 7)
    with hub.db.transaction() as db:  # an hour later
        db.execute("UPDATE visitors SET created = ?", [(utc_now() - timedelta(hours=1, seconds=1)).isoformat()])
    hub.visitors.on_event(track_event("junk-0013", unit[13], None))
    assert hub.visitor_store.count() == (7, 8)
