"""The 1:N index: exact and IVF behind one interface, best sample per person, and the hooks that keep it in
step with a real library (temporary SQLite, crops on disk)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hub.db import HubDb
from hub.library.embeddings import EmbeddingStore, SampleEmbeddings
from hub.library.enroll import SampleCandidate
from hub.library.library import Library
from hub.library.person_codes import PersonCodes
from hub.library.search_index import LibraryIndex, sample_labels
from hub.library.vector_index import ExactIndex, build_index, ivf_cells, random_unit_vectors
from hub.settings import SearchConfig
from tooling.bench.hub.ann import Probes, exact_answers, identification, lfw_set, run_ann_bench, turned

DIM = 128
MODEL = "sface"


def unit(rng: np.random.Generator, count: int) -> np.ndarray:
    return random_unit_vectors(count, DIM, rng)


def near(vector: np.ndarray, rng: np.random.Generator, noise: float = 0.1) -> np.ndarray:
    out = vector + noise * rng.standard_normal(vector.shape).astype(np.float32) / np.sqrt(DIM)
    normalised: np.ndarray = (out / np.linalg.norm(out, axis=-1, keepdims=True)).astype(np.float32)
    return normalised


@pytest.mark.parametrize(
    ("kind", "encoding", "score_error"),
    [
        ("exact", "sq8", 1e-5),  # encoding is the IVF's alone: exact keeps float32
        ("ivf", "flat", 1e-5),  # float32 in the cells: exact scores
        ("ivf", "fp16", 2e-3),  # half precision: about 1e-3 on a cosine
        ("ivf", "sq8", 1e-2),  # a byte a dimension over each dimension's trained range
    ],
)
def test_vector_index_search_add_remove(kind: str, encoding: str, score_error: float) -> None:
    rng = np.random.default_rng(0)
    vectors, labels = unit(rng, 500), np.arange(100, 600, dtype=np.int64)
    # nprobe over every cell: IVF then scans everything and must agree with exact search
    config = SearchConfig.model_validate({"type": kind, "nprobe": 65_536, "encoding": encoding})
    index = build_index(labels, vectors, config, DIM)
    scores, found = index.search(vectors[:3], 5)
    assert found[:, 0].tolist() == [100, 101, 102] and np.allclose(scores[:, 0], 1.0, atol=score_error)
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
        index = LibraryIndex(None, SearchConfig.model_validate({"type": kind, "nprobe": 65_536}))
        index.replace(MODEL, np.arange(len(owners), dtype=np.int64), owners, vectors)
        hits = index.search_people(centre, 3, MODEL)
        assert [p for p, _ in hits][:2] == ["a", "b"] and len({p for p, _ in hits}) == 3
        score_error = 1e-5 if kind == "exact" else 1e-2  # IVF keeps SQ8 codes (a byte a dimension)
        assert hits[0][1] == pytest.approx(float((vectors[:30] @ centre).max()), abs=score_error)
        nearest = index.nearest(np.stack([centre, vectors[40]]), 2)
        assert nearest.person_ids.shape == (2, 2) and nearest.person_ids[1, 0] == "p9"


def test_sq8_with_every_cell_probed_finds_what_exact_search_finds() -> None:
    rng = np.random.default_rng(5)
    vectors, labels = unit(rng, 2000), np.arange(2000, dtype=np.int64)
    mates = turned(vectors[:200], 0.6, rng)  # another photo of the first 200 people
    exact = build_index(labels, vectors, SearchConfig(type="exact"), DIM)
    ivf = build_index(labels, vectors, SearchConfig(type="ivf", nprobe=65_536, encoding="sq8"), DIM)
    (exact_scores, exact_found), (ivf_scores, ivf_found) = exact.search(mates, 1), ivf.search(mates, 1)
    assert (exact_found[:, 0] == labels[:200]).all() and (ivf_found == exact_found).all()
    assert np.abs(ivf_scores - exact_scores).max() < 1e-2
    assert ivf.memory_bytes() < exact.memory_bytes() / 3  # 128 + 8 bytes a vector (and centroids), not 512 + 8


def test_the_bench_measures_rank1_and_fpir_against_exact_search() -> None:
    cells = ivf_cells(3000, SearchConfig())
    report = run_ann_bench((3000,), 60, None, SearchConfig(), nprobes=(1, cells), exact_timed=10)
    exact, few, every = report.rows
    assert (exact.kind, few.kind, every.kind) == ("exact", f"ivf-sq8/1of{cells}", f"ivf-sq8/{cells}of{cells}")
    # a mate at cosine 0.6 beats 3000 random people (best about 0.35): exact search always finds it
    assert exact.rank1 == 1.0 and every.rank1_vs_exact == 1.0 and every.rank1 == 1.0
    assert few.rank1 < 0.9  # one cell of 55 on random data: the mate's cell is often not the one probed
    assert 0.0 <= exact.fpir <= 1.0 and every.fpir == pytest.approx(exact.fpir, abs=0.05)
    assert len(every.p99_ms) == 2 and len(exact.p99_ms) == 1  # two timed passes of the index, one of exact
    assert exact.bytes_per_identity == pytest.approx(DIM * 4 + 8 + 4 + 5, rel=0.05)  # vector, label, owner, id
    assert every.bytes_per_identity < 200 and report.peak_rss_mb > 0
    assert report.mated_queries == report.non_mated_queries == 60
    assert {"rank-1", "FPIR", "B/identity"} <= set(report.lines()[0].split())


def test_lfw_library_holds_the_gallery_and_asks_mated_and_non_mated_queries() -> None:
    rng = np.random.default_rng(6)
    gallery = unit(rng, 50)
    probes = Probes(
        gallery,
        np.array([f"person {i}" for i in range(50)], object),
        near(gallery[:20], rng),
        np.arange(20),
        unit(rng, 30),
    )
    data = lfw_set(500, probes, 10, 8, rng)
    assert data.vectors.shape == (500, DIM) and np.allclose(np.linalg.norm(data.vectors, axis=1), 1, atol=1e-5)
    assert data.person_ids[3] == b"person 3" and data.person_ids[50] == b"d0" and len(set(data.person_ids)) == 500
    assert len(data.mated) == 10 and len(data.non_mated) == 8
    first = np.array([np.flatnonzero((probes.mated == q).all(axis=1))[0] for q in data.mated])
    assert (data.mated_person == data.person_ids[first]).all()  # each mated query's person is its owner
    rank1, _, fpir = identification(data, exact_answers(data), threshold=0.363)
    assert rank1 == 1.0  # near-copies of gallery photos are found first
    assert fpir == float(((data.non_mated @ data.vectors.T).max(axis=1) >= 0.363).mean())


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
    assert [s for _, s in fresh] == pytest.approx([s for _, s in kept], abs=1e-2)  # SQ8 ranges trained anew
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


@pytest.mark.parametrize(
    "ids",
    [
        np.array(["bob", "ann", "bob", "zoë"], object),  # str objects, one not ASCII
        np.array([b"bob", b"ann", b"bob", "zoë".encode()]),  # UTF-8 bytes as the bench passes them
    ],
)
def test_person_codes_map_ids_to_codes_and_back(ids: np.ndarray) -> None:
    people = PersonCodes(ids)
    assert people.codes_of_build.tolist() == [1, 0, 1, 2] and len(people) == 3  # sorted: ann, bob, zoë
    assert [people.person(c) for c in range(3)] == ["ann", "bob", "zoë"]
    assert people.code("zoë") == 2 and people.code("cid") is None
    assert people.code_or_add("cid") == 3 and people.code_or_add("cid") == 3 and people.code("cid") == 3
    assert people.people(np.array([[3, 0]])).tolist() == [["cid", "ann"]]
    assert people.memory_bytes() < 200  # 3 x 5 bytes, plus the one added since


def test_enrolling_and_deleting_keep_labels_sorted_and_owned() -> None:
    rng = np.random.default_rng(7)
    index = LibraryIndex(None, SearchConfig())
    index.replace(MODEL, np.array([50, 10, 30]), np.array(["a", "b", "a"], object), unit(rng, 3))
    found = SampleEmbeddings(MODEL, ("s1", "s2"), np.array(["c", "b"], object), unit(rng, 2))
    index._add_locked(found)  # what person_changed does once the store has been read
    labels = index._labels.tolist()
    assert labels == sorted(labels) and len(labels) == 5
    owners = dict(zip(labels, index._people.people(index._owners).tolist(), strict=True))
    assert (owners[50], owners[10], owners[30]) == ("a", "b", "a")
    assert [owners[int(x)] for x in sample_labels(["s1", "s2"])] == ["c", "b"]
    index.samples_removed(["s1"])
    index.person_removed("a")
    assert index._labels.tolist() == sorted([10, int(sample_labels(["s2"])[0])]) and index.stats().people == 1
