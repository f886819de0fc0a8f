"""The 1:N index: exact and IVF behind one interface, best sample per person, and the hooks that keep it in
step with a real library (temporary SQLite, crops on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hub.db import HubDb
from hub.library.embeddings import EmbeddingStore
from hub.library.enroll import SampleCandidate
from hub.library.library import Library
from hub.library.search_index import LibraryIndex, sample_labels
from hub.library.vector_index import ExactIndex, build_index, ivf_cells, random_unit_vectors
from hub.settings import SearchConfig
from tooling.bench.hub.ann import run_ann_bench

DIM = 128
MODEL = "sface"


def unit(rng: np.random.Generator, count: int) -> np.ndarray:
    return random_unit_vectors(count, DIM, rng)


def near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    out = vector + noise * rng.standard_normal(vector.shape).astype(np.float32) / np.sqrt(DIM)
    return (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("kind", ["exact", "ivf"])
def test_vector_index_search_add_remove(kind: str) -> None:
    rng = np.random.default_rng(0)
    vectors, labels = unit(rng, 500), np.arange(100, 600, dtype=np.int64)
    # nprobe over every cell: IVF then scans everything and must agree with exact search
    index = build_index(labels, vectors, SearchConfig(type=kind, nprobe=65_536), DIM)  # type: ignore[arg-type]
    scores, found = index.search(vectors[:3], 5)
    assert found[:, 0].tolist() == [100, 101, 102] and np.allclose(scores[:, 0], 1.0, atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # highest first
    assert index.remove(np.array([100, 999])) == 1 and len(index) == 499
    assert 100 not in index.search(vectors[:1], 5)[1]
    index.add(np.array([7]), vectors[:1])
    assert index.search(vectors[:1], 1)[1][0, 0] == 7
    scores, found = index.search(vectors[:1], 600)  # more than it holds: padded
    assert (found[0, 500:] == -1).all() and np.isneginf(scores[0, 500:]).all()
    with pytest.raises(ValueError, match="expected"):
        index.search(np.zeros((1, 3), np.float32), 1)


def test_people_search_keeps_each_persons_best_sample() -> None:
    rng = np.random.default_rng(1)
    centre = unit(rng, 1)[0]
    # person a: 30 samples near the query (a's best is the nearest); b: one sample a bit further; c..: far
    vectors = np.concatenate([near(np.tile(centre, (30, 1)), rng, 0.5), near(centre[None], rng, 2.0), unit(rng, 200)])
    owners = np.array(["a"] * 30 + ["b"] + [f"p{i}" for i in range(200)], dtype=object)
    for kind in ("exact", "ivf"):
        index = LibraryIndex(None, SearchConfig(type=kind, nprobe=65_536))  # type: ignore[arg-type]
        index.replace(MODEL, np.arange(len(owners), dtype=np.int64), owners, vectors)
        hits = index.search_people(centre, 3, MODEL)
        assert [p for p, _ in hits][:2] == ["a", "b"] and len({p for p, _ in hits}) == 3
        assert hits[0][1] == pytest.approx(float((vectors[:30] @ centre).max()), abs=1e-5)
        nearest = index.nearest(np.stack([centre, vectors[40]]), 2)
        assert nearest.person_ids.shape == (2, 2) and nearest.person_ids[1, 0] == "p9"


def test_ivf_with_few_probes_is_approximate_and_the_bench_says_so() -> None:
    report = run_ann_bench((3000,), 30, None, SearchConfig(), nprobes=(1, ivf_cells(3000, SearchConfig())))
    exact, few, every = report.rows
    assert (exact.kind, few.kind, every.kind) == ("exact", "ivf", "ivf")
    assert every.recall_at_10 == pytest.approx(1.0) and few.recall_at_10 < 0.9  # random data, one cell of 55
    assert exact.index_mb == pytest.approx(3000 * DIM * 4 / 2**20, rel=0.05) and report.peak_rss_mb > 0
    assert "recall@10" in report.lines()[0]


def candidates(rng: np.random.Generator, vectors: np.ndarray) -> list[SampleCandidate]:
    crop = np.zeros((112, 112, 3), np.uint8)
    return [SampleCandidate(crop, v, 80.0, 0.99, 100.0, "test") for v in vectors]


@pytest.fixture
def library(db_target: Path | str, tmp_path: Path) -> Library:
    hub_db = HubDb(db_target)
    hub_db.migrate()
    store = EmbeddingStore(hub_db)
    store.ensure_active(MODEL)
    return Library(hub_db, tmp_path / "samples", store)


def test_hooks_keep_the_index_equal_to_the_store(library: Library) -> None:
    rng = np.random.default_rng(2)
    config = SearchConfig(exact_max_samples=40, nprobe=65_536)
    index = LibraryIndex(library.embedding_store, config)
    index.rebuild()
    library.followers.append(index)
    faces = {name: unit(rng, 1)[0] for name in ("ann", "bob", "cid")}
    for name, face in faces.items():
        ticket = library.begin_upload(name)
        person, _ = library.add_samples(ticket, candidates(rng, near(np.tile(face, (15, 1)), rng)), MODEL, 100)
        index.person_changed(person.id)  # a repeated hook changes nothing
    assert index.stats().samples == 45 and index.stats().kind == "ivf"  # grew past exact_max_samples
    ids = {p.name: p.id for p in library.people()}
    assert index.search_people(faces["bob"], 1, MODEL)[0][0] == ids["bob"]

    bob_samples = [s.id for s in library.samples(ids["bob"])]
    library.delete_samples(bob_samples[:5])
    with library.hub_db.transaction() as db:
        library.remove_person(db, ids["cid"])
    library.remove_person_files(ids["cid"])
    assert index.stats().samples == 25
    assert ids["cid"] not in [p for p, _ in index.search_people(faces["cid"], 3, MODEL)]

    rebuilt = LibraryIndex(library.embedding_store, config)
    rebuilt.rebuild()
    query = faces["ann"]
    fresh, kept = rebuilt.search_people(query, 5, MODEL), index.search_people(query, 5, MODEL)
    assert [p for p, _ in fresh] == [p for p, _ in kept] == [ids["ann"], ids["bob"]]
    assert [s for _, s in fresh] == pytest.approx([s for _, s in kept], abs=1e-5)
    assert set(sample_labels([s.id for s in library.samples()])) == set(rebuilt._labels.tolist())


def test_a_switch_of_the_active_model_rebuilds(library: Library) -> None:
    rng = np.random.default_rng(3)
    person, samples = library.add_samples(library.begin_upload("ann"), candidates(rng, unit(rng, 3)), MODEL, 100)
    index = LibraryIndex(library.embedding_store, SearchConfig())
    index.rebuild()
    other = unit(rng, 3)
    library.embedding_store.store("other-model", [s.id for s in samples], other)
    with library.hub_db.transaction() as db:
        assert library.embedding_store.switch(db, "other-model", "v2", set())
    index.person_changed(person.id)  # the next hook notices and rebuilds for the new model
    assert index.model_id == "other-model"
    assert index.search_people(other[0], 1, "other-model")[0][1] == pytest.approx(1.0, abs=1e-5)


def test_empty_library_searches_to_nothing(library: Library) -> None:
    index = LibraryIndex(library.embedding_store, SearchConfig())
    index.rebuild()
    assert index.search_people(unit(np.random.default_rng(4), 1)[0], 5, MODEL) == []
    assert isinstance(index._index, ExactIndex)
