"""`facefleet bench hub ann`: the 1:N index at 10k, 100k and 1M identities, IVF (FAISS) beside exact numpy.

Each size is measured on two libraries, one vector per identity, through the hub's own `LibraryIndex`
(`search_people(query, 10)`, one query at a time as `POST /api/search` asks):
- `random`: unit vectors uniform on the sphere, random queries. Latency, build time and memory; recall
  here is the worst case for any ANN index (no structure to exploit), not what faces get.
- `lfw`: real SFace embeddings of LFW (the open-set split of `facefleet eval lfw`: one photo of each of
  5,749 people in the library, their other photos as queries), padded to the size with distractors drawn
  from a Gaussian fitted to those embeddings (same mean and covariance, normalised), since LFW has far
  fewer than 100k people. Recall@10 = share of exact search's top-10 people the index also returns.

Memory stays at one (N, D) float32 matrix plus one index: the IVF index is built and measured, dropped,
then the exact index is built on the same matrix (it keeps it without a copy). At 1M x 128 that is
512 MB of vectors plus the IVF's own 512 MB copy at the peak.
"""

from __future__ import annotations

import gc
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hub.library.search_index import LibraryIndex
from hub.library.vector_index import ivf_cells, random_unit_vectors
from hub.settings import SearchConfig

DIM = 128
TOP_K = 10
CHUNK = 65_536


@dataclass(frozen=True)
class QuerySet:
    """A library of (N, D) unit vectors with a person id each, and (Q, D) queries."""

    name: str
    vectors: np.ndarray
    person_ids: np.ndarray
    queries: np.ndarray


@dataclass
class AnnRow:
    identities: int
    data: str
    kind: str
    build_s: float
    p50_ms: float
    p99_ms: float
    index_mb: float
    rss_growth_mb: float
    recall_at_10: float
    cells: int = 0
    nprobe: int = 0


@dataclass
class AnnReport:
    queries: int
    lfw_library: int = 0
    lfw_queries: int = 0
    peak_rss_mb: float = 0.0
    rows: list[AnnRow] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{'identities':>10} {'data':<6} {'index':<12} {'build s':>8} {'p50 ms':>8} {'p99 ms':>8} "
               f"{'index MB':>9} {'RSS +MB':>8} {'recall@10':>9}"]
        for r in self.rows:
            kind = f"ivf/{r.nprobe}of{r.cells}" if r.kind == "ivf" else r.kind
            out.append(f"{r.identities:>10} {r.data:<6} {kind:<12} {r.build_s:>8.2f} {r.p50_ms:>8.2f} "
                       f"{r.p99_ms:>8.2f} {r.index_mb:>9.1f} {r.rss_growth_mb:>8.1f} {r.recall_at_10:>9.3f}")
        out.append(f"{self.queries} queries per row; lfw: {self.lfw_library} LFW people in the library, "
                   f"{self.lfw_queries} LFW queries; process peak RSS {self.peak_rss_mb:.0f} MB")
        return out

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def rss_mb(field_name: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def random_set(size: int, queries: int, rng: np.random.Generator) -> QuerySet:
    vectors = np.empty((size, DIM), np.float32)
    for start in range(0, size, CHUNK):
        stop = min(size, start + CHUNK)
        vectors[start:stop] = random_unit_vectors(stop - start, DIM, rng)
    return QuerySet("random", vectors, _ids("r", size), random_unit_vectors(queries, DIM, rng))


def lfw_set(size: int, library: np.ndarray, names: np.ndarray, queries: np.ndarray,
            rng: np.random.Generator) -> QuerySet:
    """LFW embeddings (L, D) of people `names` (L,), then distractors fitted to them up to `size`."""
    vectors = np.empty((size, DIM), np.float32)
    kept = min(size, len(library))
    vectors[:kept] = library[:kept]
    mean, cov = library.mean(axis=0), np.cov(library, rowvar=False)
    for start in range(kept, size, CHUNK):
        stop = min(size, start + CHUNK)
        drawn = rng.multivariate_normal(mean, cov, stop - start, method="cholesky").astype(np.float32)
        vectors[start:stop] = drawn / np.linalg.norm(drawn, axis=1, keepdims=True)
    person_ids = np.concatenate([names[:kept].astype(object), _ids("d", size - kept)])
    return QuerySet("lfw", vectors, person_ids, queries)


def _ids(prefix: str, count: int) -> np.ndarray:
    return np.array([f"{prefix}{i}" for i in range(count)], dtype=object)


def build(data: QuerySet, config: SearchConfig) -> tuple[LibraryIndex, float, float]:
    """The hub's index over `data`: the index, its build time (s) and the process RSS it added (MB)."""
    gc.collect()
    before = rss_mb()
    index = LibraryIndex(None, config)
    stats = index.replace("bench", np.arange(len(data.vectors), dtype=np.int64), data.person_ids, data.vectors)
    return index, stats.build_s, rss_mb() - before


def timed_answers(index: LibraryIndex, queries: np.ndarray) -> tuple[list[float], list[list[str]]]:
    """Latency (ms) and top-10 people of each query, one query at a time."""
    for query in queries[:5]:  # warm up caches and FAISS' threads
        index.search_people(query, TOP_K, "bench")
    took, answers = [], []
    for query in queries:
        started = time.perf_counter()
        hits = index.search_people(query, TOP_K, "bench")
        took.append((time.perf_counter() - started) * 1000)
        answers.append([person for person, _ in hits])
    return took, answers


def measure_all(data: QuerySet, ivf: SearchConfig, nprobes: tuple[int, ...]) -> list[AnnRow]:
    """IVF at each nprobe, then exact (the truth) on the same matrix; recall@10 of each IVF row against it."""
    size = len(data.vectors)
    index, build_s, grown = build(data, ivf)
    memory_mb = index.stats().memory_bytes / 2**20
    rows, answers = [], []
    for nprobe in nprobes:
        index.set_nprobe(nprobe)
        took, found = timed_answers(index, data.queries)
        answers.append(found)
        rows.append(AnnRow(size, data.name, "ivf", build_s, float(np.percentile(took, 50)),
                           float(np.percentile(took, 99)), memory_mb, grown, 0.0, ivf_cells(size, ivf),
                           min(nprobe, ivf_cells(size, ivf))))
    del index
    exact, build_s, grown = build(data, SearchConfig(type="exact"))
    took, truth = timed_answers(exact, data.queries)
    for row, found in zip(rows, answers, strict=True):
        row.recall_at_10 = float(np.mean([len(set(a) & set(t)) / max(1, len(t))
                                          for a, t in zip(found, truth, strict=True)]))
    exact_row = AnnRow(size, data.name, "exact", build_s, float(np.percentile(took, 50)),
                       float(np.percentile(took, 99)), exact.stats().memory_bytes / 2**20, grown, 1.0)
    return [exact_row, *rows]


def run_ann_bench(sizes: tuple[int, ...], queries: int, lfw: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                  config: SearchConfig, nprobes: tuple[int, ...] = (), seed: int = 0) -> AnnReport:
    """lfw: (L, D) library embeddings, (L,) their people, (Q', D) query embeddings (None skips the lfw rows);
    nprobes: the IVF settings measured (default: the config's)."""
    nprobes = nprobes or (config.nprobe,)
    rng = np.random.default_rng(seed)
    ivf = config.model_copy(update={"type": "ivf"})
    report = AnnReport(queries)
    for size in tqdm(sizes, desc="ANN sizes", unit="size"):
        report.rows += measure_all(random_set(size, queries, rng), ivf, nprobes)
        gc.collect()
        if lfw is not None:
            library, names, lfw_queries = lfw
            picked = lfw_queries[rng.choice(len(lfw_queries), min(queries, len(lfw_queries)), replace=False)]
            report.rows += measure_all(lfw_set(size, library, names, picked, rng), ivf, nprobes)
            report.lfw_library, report.lfw_queries = min(size, len(library)), len(picked)
            gc.collect()
    report.peak_rss_mb = rss_mb("VmHWM")
    return report


def lfw_embeddings(lfw_dir: Path, people: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SFace embeddings of LFW's open-set split (`models.eval.eval_openset`): the library (one photo of each
    person: the gallery, then the people with one photo), its people, and the queries (the gallery people's
    other photos). The whole split's crops are the ones `facefleet eval lfw` caches, and its embeddings are
    cached beside them (keyed by the crops and the embedder file); `people` keeps only the first that many
    gallery people and caches nothing."""
    from models.artifacts import load_manifest
    from models.eval.eval_openset import lfw_open_set_split
    from models.eval.lfw import cache_key, crops_for_images
    from models.pipeline import FacePipeline
    from models.registry import default_cache_dir, default_model_dir

    pipeline = FacePipeline.from_config()
    split = lfw_open_set_split(lfw_dir)
    gallery, non_mated = split.gallery[:people], split.non_mated if people is None else []
    mated = [p for p, owner in zip(split.mated, split.mated_owner, strict=True) if people is None or owner < people]
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
        embeddings = np.concatenate([pipeline.embedder.embed(crops[s:s + 512]) for s in range(0, len(crops), 512)])
        if embeddings_cache is not None:
            np.savez(embeddings_cache, embeddings=embeddings)
    g, m = len(gallery), len(mated)
    library = np.concatenate([embeddings[:g], embeddings[g + m:]])
    names = np.array([p.parent.name for p in gallery + non_mated], dtype=object)
    return library, names, embeddings[g:g + m]
