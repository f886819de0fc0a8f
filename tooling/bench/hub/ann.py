"""`facefleet bench hub ann`: does 1:N search find the person, how fast, in how much memory, at 10k..10M people.

What counts is whether the TRUE mate comes back first, not agreement with exact search: each size is measured
on a library of one vector per identity, searched through the hub's own `LibraryIndex` (`search_people(query,
10)`, one query at a time as `POST /api/search` asks, on one core: FAISS and BLAS held to one thread), with
- mated queries (another photo of someone in the library): rank-1 = share whose first person is the mate;
  rank-1 at the threshold also asks that its score reach the hub's threshold (`verify_threshold`);
- non-mated queries (people not in the library): FPIR = share whose first person scores at or above it.

Two libraries:
- `lfw`: real SFace embeddings of LFW's open-set split (`facefleet eval lfw`: one photo of each gallery
  person in the library, their other photos the mated queries, people with one photo the non-mated ones),
  padded to the size with distractors drawn from a Gaussian fitted to all those embeddings (same mean and
  covariance, normalised): LFW has 1,680 gallery people, not millions.
- `random`: identities uniform on the sphere; a mated query is its identity's vector turned by a random
  angle to a cosine of `GENUINE_COSINE`, a non-mated one a fresh random vector. Needs no model (CI, quick
  runs); no structure for an index to exploit.

Exact search is the truth: its answers come from one batched pass (the same cosines, chunked), and its
latency from `exact_timed` queries one at a time (a query costs N x D multiply-adds: 0.5 s at 10M).
Memory is stated per identity as the index holds it (codes, labels, person table); the library's float32
matrix that the bench builds the index from is not part of it (the hub reads vectors from its store).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hub.library.search_index import LibraryIndex
from hub.library.vector_index import ivf_cells, random_unit_vectors
from hub.settings import HubSettings, SearchConfig

DIM = 128
TOP_K = 10
CHUNK = 65_536
GENUINE_COSINE = 0.6  # about SFace's mean mated cosine on LFW
HUB_THRESHOLD = float(HubSettings.model_fields["verify_threshold"].default)


@dataclass(frozen=True)
class Probes:
    """Real faces: (G, D) library photos of G people `names` (G,), (M, D) mated queries with the row of
    their person in the library (M,), (U, D) non-mated queries (people not in the library)."""

    library: np.ndarray
    names: np.ndarray
    mated: np.ndarray
    mated_owner: np.ndarray
    non_mated: np.ndarray


@dataclass(frozen=True)
class QuerySet:
    """A library of (N, D) unit vectors with a person id each ((N,) bytes), (M, D) mated queries with their
    person (M,), (U, D) non-mated queries."""

    name: str
    vectors: np.ndarray
    person_ids: np.ndarray
    mated: np.ndarray
    mated_person: np.ndarray
    non_mated: np.ndarray

    def queries(self) -> np.ndarray:
        return np.concatenate([self.mated, self.non_mated])


@dataclass
class AnnRow:
    identities: int
    data: str
    kind: str
    build_s: float
    p50_ms: list[float]  # one figure per timed pass (the machine may be shared: two passes, both reported)
    p99_ms: list[float]
    bytes_per_identity: float
    rss_growth_mb: float
    rank1: float
    rank1_vs_exact: float
    rank1_at_threshold: float
    fpir: float
    cells: int = 0
    nprobe: int = 0


@dataclass
class AnnReport:
    mated_queries: int
    non_mated_queries: int
    threshold: float
    threads: int = 1
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    peak_rss_mb: float = 0.0
    rows: list[AnnRow] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{'identities':>10} {'data':<6} {'index':<18} {'build s':>8} {'p50 ms':>11} {'p99 ms':>13} "
            f"{'B/identity':>10} {'rank-1':>6} {'vs exact':>8} {'r1@thr':>6} {'FPIR':>6}"
        ]
        for r in self.rows:
            out.append(
                f"{r.identities:>10} {r.data:<6} {r.kind:<18} {r.build_s:>8.1f} "
                f"{'/'.join(f'{v:.1f}' for v in r.p50_ms):>11} {'/'.join(f'{v:.1f}' for v in r.p99_ms):>13} "
                f"{r.bytes_per_identity:>10.0f} {r.rank1:>6.3f} {r.rank1_vs_exact:>8.3f} "
                f"{r.rank1_at_threshold:>6.3f} {r.fpir:>6.3f}"
            )
        out.append(
            f"{self.mated_queries} mated and {self.non_mated_queries} non-mated queries per library, one at "
            f"a time on {self.threads} thread (p50/p99: each timed pass); rank-1 at threshold and FPIR at "
            f"the hub's cosine {self.threshold}; builds on {self.cpus} CPUs; peak RSS "
            f"{self.peak_rss_mb:.0f} MB"
        )
        return out

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def rss_mb(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


# libraries ------------------------------------------------------------------------------------------------
def random_set(size: int, mated: int, non_mated: int, rng: np.random.Generator) -> QuerySet:
    vectors = np.empty((size, DIM), np.float32)
    for start in range(0, size, CHUNK):
        stop = min(size, start + CHUNK)
        vectors[start:stop] = random_unit_vectors(stop - start, DIM, rng)
    owners = rng.choice(size, min(mated, size), replace=False)
    ids = distractor_ids(size, "r")
    return QuerySet(
        "random",
        vectors,
        ids,
        turned(vectors[owners], GENUINE_COSINE, rng),
        ids[owners],
        random_unit_vectors(non_mated, DIM, rng),
    )


def turned(vectors: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """(Q, D) unit vectors at exactly `cosine` to each (Q, D) unit vector, in a random direction."""
    away = rng.standard_normal(vectors.shape).astype(np.float32)
    away -= (away * vectors).sum(axis=1, keepdims=True) * vectors
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    out: np.ndarray = (cosine * vectors + np.sqrt(1 - cosine**2) * away).astype(np.float32)
    return out


def lfw_set(size: int, probes: Probes, mated: int, non_mated: int, rng: np.random.Generator) -> QuerySet:
    """The LFW library (G, D), then distractors fitted to all LFW embeddings up to `size`; up to `mated`
    mated and `non_mated` non-mated LFW queries."""
    vectors = np.empty((size, DIM), np.float32)
    kept = min(size, len(probes.library))
    vectors[:kept] = probes.library[:kept]
    every = np.concatenate([probes.library, probes.mated, probes.non_mated])
    mean, cov = every.mean(axis=0), np.cov(every, rowvar=False)
    for start in range(kept, size, CHUNK):
        stop = min(size, start + CHUNK)
        drawn = rng.multivariate_normal(mean, cov, stop - start, method="eigh").astype(np.float32)
        vectors[start:stop] = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
    names = np.char.encode(probes.names[:kept].astype(str), "utf-8")
    ids = np.concatenate([names.astype(f"S{max(names.itemsize, 9)}"), distractor_ids(size - kept, "d")])
    inside = np.flatnonzero(probes.mated_owner < kept)
    picked = inside[np.sort(rng.choice(len(inside), min(mated, len(inside)), replace=False))]
    strangers = probes.non_mated[
        np.sort(rng.choice(len(probes.non_mated), min(non_mated, len(probes.non_mated)), replace=False))
    ]
    return QuerySet("lfw", vectors, ids, probes.mated[picked], ids[probes.mated_owner[picked]], strangers)


def distractor_ids(count: int, prefix: str) -> np.ndarray:
    """(count,) bytes ids `<prefix>0`, `<prefix>1`, ... made without a Python string each."""
    return np.char.add(prefix.encode(), np.arange(count).astype("S"))


# measuring -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answers:
    """Per query: the first person's id (bytes; b'' when none) and score."""

    first: np.ndarray
    score: np.ndarray


def exact_answers(data: QuerySet) -> Answers:
    """Exact search's first answer for every query, batched: the best cosine over all N vectors."""
    queries = data.queries()
    best, arg = np.full(len(queries), -np.inf, np.float32), np.zeros(len(queries), np.int64)
    rows = max(1024, (1 << 26) // max(1, len(queries)))  # (Q, rows) float32 cosines: 256 MB a chunk
    for start in range(0, len(data.vectors), rows):
        cosines = queries @ data.vectors[start : start + rows].T
        top = cosines.argmax(axis=1)
        score = cosines[np.arange(len(queries)), top]
        better = score > best
        best[better], arg[better] = score[better], top[better] + start
    return Answers(data.person_ids[arg], best)


def timed_answers(index: LibraryIndex, queries: np.ndarray, passes: int) -> tuple[list[np.ndarray], Answers]:
    """Latencies (ms) of each pass over the queries, one query at a time, and the answers of the last one."""
    for query in queries[:5]:  # warm up caches
        index.search_people(query, TOP_K, "bench")
    took: list[np.ndarray] = []
    first, score = np.zeros(len(queries), object), np.full(len(queries), -np.inf, np.float32)
    for _ in range(passes):
        times = np.zeros(len(queries))
        for i, query in enumerate(queries):
            started = time.perf_counter()
            hits = index.search_people(query, TOP_K, "bench")
            times[i] = (time.perf_counter() - started) * 1000
            first[i], score[i] = (hits[0][0].encode(), hits[0][1]) if hits else (b"", -np.inf)
        took.append(times)
    return took, Answers(first.astype(np.bytes_), score)


def identification(data: QuerySet, answers: Answers, threshold: float) -> tuple[float, float, float]:
    """rank-1, rank-1 at `threshold` (of the mated queries) and FPIR at it (of the non-mated ones)."""
    mated = len(data.mated)
    right = answers.first[:mated] == data.mated_person
    rank1 = float(right.mean()) if mated else 0.0
    at_threshold = float((right & (answers.score[:mated] >= threshold)).mean()) if mated else 0.0
    fpir = float((answers.score[mated:] >= threshold).mean()) if len(data.non_mated) else 0.0
    return rank1, at_threshold, fpir


@contextmanager
def one_thread() -> Iterator[None]:
    """FAISS and BLAS on one thread: the per-query figures are for one core."""
    from threadpoolctl import threadpool_limits

    from hub.library.vector_index import _faiss

    faiss = _faiss()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        faiss.omp_set_num_threads(threads)


def build(data: QuerySet, config: SearchConfig) -> tuple[LibraryIndex, float, float]:
    """The hub's index over `data` (built on every CPU): the index, its build time (s), the RSS it added (MB)."""
    gc.collect()
    before = rss_mb()
    index = LibraryIndex(None, config)
    stats = index.replace("bench", np.arange(len(data.vectors), dtype=np.int64), data.person_ids, data.vectors)
    return index, stats.build_s, rss_mb() - before


def measure_all(
    data: QuerySet, ivf: SearchConfig, nprobes: tuple[int, ...], threshold: float, passes: int, exact_timed: int
) -> list[AnnRow]:
    """Exact search (the truth), then the IVF index at each nprobe, on the same library."""
    size, queries = len(data.vectors), data.queries()
    truth = exact_answers(data)
    exact_rank1, at_threshold, fpir = identification(data, truth, threshold)
    exact, build_s, grown = build(data, SearchConfig(type="exact"))
    with one_thread():
        took, _ = timed_answers(exact, queries[:exact_timed], 1)
    rows = [
        AnnRow(
            size,
            data.name,
            "exact",
            build_s,
            _percentiles(took, 50),
            _percentiles(took, 99),
            exact.stats().memory_bytes / size,
            grown,
            exact_rank1,
            1.0,
            at_threshold,
            fpir,
        )
    ]
    del exact
    index, build_s, grown = build(data, ivf)
    per_identity = index.stats().memory_bytes / size
    cells = ivf_cells(size, ivf)
    for nprobe in nprobes:
        index.set_nprobe(nprobe)
        with one_thread():
            took, answers = timed_answers(index, queries, passes)
        rank1, at_threshold, fpir = identification(data, answers, threshold)
        rows.append(
            AnnRow(
                size,
                data.name,
                f"ivf-{ivf.encoding}/{min(nprobe, cells)}of{cells}",
                build_s,
                _percentiles(took, 50),
                _percentiles(took, 99),
                per_identity,
                grown,
                rank1,
                rank1 / exact_rank1 if exact_rank1 else 0.0,
                at_threshold,
                fpir,
                cells,
                min(nprobe, cells),
            )
        )
    return rows


def _percentiles(took: list[np.ndarray], q: float) -> list[float]:
    return [round(float(np.percentile(t, q)), 3) for t in took]


def run_ann_bench(
    sizes: tuple[int, ...],
    queries: int,
    probes: Probes | None,
    config: SearchConfig,
    nprobes: tuple[int, ...] = (),
    seed: int = 0,
    threshold: float = HUB_THRESHOLD,
    passes: int = 2,
    exact_timed: int = 100,
) -> AnnReport:
    """probes: real LFW faces (None: the random library only); queries: mated and as many non-mated ones
    per library; nprobes: the IVF settings measured (default: the config's)."""
    nprobes = nprobes or (config.nprobe,)
    rng = np.random.default_rng(seed)
    ivf = config.model_copy(update={"type": "ivf"})
    report = AnnReport(queries, queries, threshold)
    for size in tqdm(sizes, desc="ANN sizes", unit="size"):
        data = (
            random_set(size, queries, queries, rng) if probes is None else lfw_set(size, probes, queries, queries, rng)
        )
        report.mated_queries, report.non_mated_queries = len(data.mated), len(data.non_mated)
        report.rows += measure_all(data, ivf, nprobes, threshold, passes, exact_timed)
        del data
        gc.collect()
    report.peak_rss_mb = rss_mb("VmHWM")
    return report


def lfw_embeddings(lfw_dir: Path, people: int | None = None) -> Probes:
    """SFace embeddings of LFW's open-set split (`models.eval.eval_openset`). The whole split's crops are
    the ones `facefleet eval lfw` caches, and its embeddings are cached beside them (keyed by the crops and the
    embedder file); `people` keeps only the first that many gallery people and caches nothing."""
    from models.artifacts import load_manifest
    from models.eval.eval_openset import lfw_open_set_split
    from models.eval.lfw import cache_key, crops_for_images
    from models.pipeline import FacePipeline
    from models.registry import default_cache_dir, default_model_dir

    pipeline = FacePipeline.from_config()
    split = lfw_open_set_split(lfw_dir)
    gallery, non_mated = split.gallery[:people], split.non_mated if people is None else split.non_mated[:people]
    kept = [i for i, owner in enumerate(split.mated_owner) if people is None or owner < people]
    mated = [split.mated[i] for i in kept]
    paths = gallery + mated + non_mated  # the order of the cached crops
    crops_cache = embeddings_cache = None
    if people is None:
        key = cache_key(lfw_dir.resolve(), len(paths), pipeline.detector.config, "openset", "")
        crops_cache = default_cache_dir() / "lfw" / f"{key}.npz"
        sha = load_manifest(default_model_dir()).get(f"{pipeline.model_id}.onnx", {}).get("sha256", "")
        embeddings_cache = default_cache_dir() / "lfw" / f"ann-{cache_key(key, pipeline.model_id, sha)}.npz"
    if embeddings_cache is not None and embeddings_cache.exists():
        embeddings = np.load(embeddings_cache)["embeddings"]
    else:
        crops, _ = crops_for_images(pipeline.detector, paths, crops_cache, desc="LFW detect+align")
        embeddings = np.concatenate([pipeline.embedder.embed(crops[s : s + 512]) for s in range(0, len(crops), 512)])
        if embeddings_cache is not None:
            np.savez(embeddings_cache, embeddings=embeddings)
    g, m = len(gallery), len(mated)
    return Probes(
        embeddings[:g],
        np.array([p.parent.name for p in gallery], dtype=object),
        embeddings[g : g + m],
        split.mated_owner[kept],
        embeddings[g + m :],
    )
