"""Nearest-neighbour search over unit vectors by inner product (= cosine), behind one small interface.

Two implementations of `VectorIndex`:
- `ExactIndex`: numpy, every vector compared (K dot products of D floats a query). Exact, no build cost,
  O(K) removal; what a small library uses.
- `IvfIndex`: FAISS inverted file (k-means cells over the vectors; a query scans the `nprobe` cells nearest
  to it), each vector kept in a cell as `SearchConfig.encoding` says: `sq8` (one byte a dimension, 128 B for
  SFace, scores within about 0.01 of the cosine), `fp16` (2 bytes a dimension) or `flat` (float32, exact
  scores, 4 bytes). Approximate: a neighbour in a cell not probed is missed; `nprobe` trades latency for
  recall. Supports adding and removing by label in place (`remove_ids`), which HNSW in FAISS does not (it
  would need tombstones and periodic rebuilds, and its graph links cost more than the vectors' codes); its
  cells are trained on the vectors present at build time, so it is rebuilt when the library has grown well
  past that (`SearchConfig.retrain_growth`).

`build_index` picks one by size. Labels are int64 chosen by the caller; vectors are float32 (K, D), unit.
FAISS is imported only when an IVF index is built.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import numpy as np

from hub.settings import IvfEncoding, SearchConfig


class VectorIndex(Protocol):
    """Inner-product search over labelled unit vectors."""

    dim: int

    def __len__(self) -> int: ...

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add (K,) int64 labels with their (K, D) float32 vectors; labels must be new."""

    def remove(self, labels: np.ndarray) -> int:
        """Remove these labels (unknown ones are ignored); how many went."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(Q, k) scores, highest first, and (Q, k) labels for (Q, D) queries; label -1 pads missing ones."""

    def memory_bytes(self) -> int:
        """What the index holds: vectors, labels and its own structures."""


class ExactIndex:
    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((0, dim), np.float32)
        self._labels = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        vectors = _checked(vectors, self.dim)
        if len(self._labels) == 0:  # the first matrix is kept as given: a rebuild holds one copy, not two
            self._vectors, self._labels = vectors, labels.astype(np.int64)
            return
        self._vectors = np.concatenate([self._vectors, vectors])
        self._labels = np.concatenate([self._labels, labels.astype(np.int64)])

    def remove(self, labels: np.ndarray) -> int:
        keep = ~np.isin(self._labels, labels)
        removed = int((~keep).sum())
        if removed:
            self._vectors, self._labels = self._vectors[keep], self._labels[keep]
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = _checked(queries, self.dim)
        scores = np.full((len(queries), k), -np.inf, np.float32)
        labels = np.full((len(queries), k), -1, np.int64)
        found = min(k, len(self._labels))
        if found == 0:
            return scores, labels
        cosines = queries @ self._vectors.T
        top = np.argpartition(-cosines, found - 1, axis=1)[:, :found]
        top_scores = np.take_along_axis(cosines, top, 1)
        ranked = np.argsort(-top_scores, axis=1, kind="stable")
        scores[:, :found] = np.take_along_axis(top_scores, ranked, 1)
        labels[:, :found] = self._labels[np.take_along_axis(top, ranked, 1)]
        return scores, labels

    def memory_bytes(self) -> int:
        return int(self._vectors.nbytes + self._labels.nbytes)


class IvfIndex:
    def __init__(self, dim: int, training: np.ndarray, cells: int, nprobe: int, encoding: IvfEncoding = "flat") -> None:
        """Train `cells` k-means cells (and the scalar quantizer's ranges) on (T, D) `training` vectors
        (T >= cells)."""
        faiss = _faiss()
        self.dim = dim
        self.encoding = encoding
        self.trained_on = len(training)
        self._quantizer = faiss.IndexFlatIP(dim)
        if encoding == "flat":
            self._index: Any = faiss.IndexIVFFlat(self._quantizer, dim, cells, faiss.METRIC_INNER_PRODUCT)
        else:
            kind = faiss.ScalarQuantizer.QT_8bit if encoding == "sq8" else faiss.ScalarQuantizer.QT_fp16
            self._index = faiss.IndexIVFScalarQuantizer(self._quantizer, dim, cells, kind, faiss.METRIC_INNER_PRODUCT)
        self._index.cp.min_points_per_centroid = 1  # small trainings are fine: cells just hold fewer vectors
        self._index.train(_checked(training, dim))
        self._index.nprobe = min(nprobe, cells)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    @nprobe.setter
    def nprobe(self, cells: int) -> None:
        self._index.nprobe = max(1, min(cells, int(self._index.nlist)))

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(_checked(vectors, self.dim), labels.astype(np.int64))

    def remove(self, labels: np.ndarray) -> int:
        if len(labels) == 0:
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(labels.astype(np.int64))))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, labels = self._index.search(_checked(queries, self.dim), k)
        scores[labels < 0] = -np.inf
        return scores.astype(np.float32), labels.astype(np.int64)

    def memory_bytes(self) -> int:
        # Inverted lists hold each vector's code and its label; the quantizer holds the cell centroids.
        return len(self) * (int(self._index.code_size) + 8) + int(self._quantizer.ntotal) * self.dim * 4


def ivf_cells(count: int, config: SearchConfig) -> int:
    """Number of IVF cells for `count` vectors: cells_per_sqrt x sqrt(count), within 16..65536."""
    return int(min(65_536, max(16, round(config.cells_per_sqrt * math.sqrt(max(count, 1))))))


def wants_ivf(count: int, config: SearchConfig) -> bool:
    return config.type == "ivf" or (config.type == "auto" and count > config.exact_max_samples)


def build_index(labels: np.ndarray, vectors: np.ndarray, config: SearchConfig, dim: int, seed: int = 0) -> VectorIndex:
    """An index over (K,) labels and (K, D) vectors: exact or IVF as `config` says for K vectors.

    IVF cells are trained on a random sample of up to 64 vectors a cell (k-means cost grows with it;
    more points per cell than that barely moves the centroids).
    """
    if not wants_ivf(len(labels), config):
        exact = ExactIndex(dim)
        exact.add(labels, vectors)
        return exact
    cells = ivf_cells(len(labels), config)
    rng = np.random.default_rng(seed)
    sample = (
        vectors if len(vectors) <= 64 * cells else vectors[np.sort(rng.choice(len(vectors), 64 * cells, replace=False))]
    )
    if len(sample) < cells:  # an IVF index forced on a (nearly) empty library: pad training with noise
        sample = np.concatenate([sample, random_unit_vectors(cells - len(sample), dim, rng)])
    ivf = IvfIndex(dim, sample, cells, config.nprobe, config.encoding)
    for start in range(0, len(labels), 65_536):
        ivf.add(labels[start : start + 65_536], vectors[start : start + 65_536])
    return ivf


def random_unit_vectors(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """(count, dim) float32 vectors uniform on the unit sphere."""
    out = rng.standard_normal((count, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _faiss() -> Any:
    """FAISS, imported on first use (its loader logs at INFO which CPU variant it found: kept quiet)."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    import faiss

    return faiss


def _checked(vectors: np.ndarray, dim: int) -> np.ndarray:
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"expected (N, {dim}) vectors, got {vectors.shape}")
    return np.ascontiguousarray(vectors, dtype=np.float32)
