"""The 1:N index of the library: every sample embedding of one model, searchable by person.

One way to search (the hub's `POST /api/search`, and `nearest` for other hub code such as the clustering of
unknown visitors): the samples sit in a `VectorIndex` (exact numpy for small libraries, FAISS IVF for large
ones, `hub.library.vector_index`) under int64 labels derived from their sample ids; a people search asks for the
nearest samples and keeps each person's best one (highest cosine), asking for more samples while fewer than
`top_k` distinct people came back. With the exact index this is exactly "best sample cosine per person";
with IVF a person whose best sample lies in a cell the query did not probe ranks by its next best one, or
is missed.

It is rebuilt from the store at hub start and whenever the active model changed, and kept in step with
the library as one of its followers (`hub.library.library.LibraryFollower`), told after each committed write:
`person_changed` (enrollment: the person's samples are read back from the store, so hooks applied in any
order end in the store's state), `samples_removed` and `person_removed` (deletion).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hub.library.embeddings import EmbeddingStore, SampleEmbeddings
from hub.library.person_codes import PersonCodes
from hub.library.vector_index import ExactIndex, IvfIndex, VectorIndex, build_index, wants_ivf
from hub.settings import SearchConfig

log = logging.getLogger(__name__)
_LABEL_MASK = (1 << 63) - 1  # non-negative: FAISS pads missing results with -1


def sample_labels(sample_ids: Sequence[str]) -> np.ndarray:
    """(K,) int64 labels: 63 bits of BLAKE2b of each sample id (a collision needs ~3e9 samples to be likely)."""
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") & _LABEL_MASK
            for s in sample_ids
        ),
        np.int64,
        len(sample_ids),
    )


@dataclass(frozen=True)
class Neighbours:
    """Per query (Q of them), the k nearest samples: (Q, k) person ids ('' pads) and (Q, k) cosines."""

    person_ids: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True)
class IndexStats:
    kind: str
    model_id: str
    samples: int
    people: int
    memory_bytes: int
    build_s: float


class LibraryIndex:
    """Thread-safe: hooks, searches and rebuilds take one lock."""

    def __init__(self, store: EmbeddingStore | None, config: SearchConfig) -> None:
        """store: where rebuilds and `person_changed` read from (None: only `replace` fills it, e.g. a bench)."""
        self.store = store
        self.config = config
        self.model_id = ""
        self._lock = threading.Lock()
        self._index: VectorIndex = ExactIndex(1)
        self._labels = np.zeros(0, np.int64)  # sorted
        self._owners: np.ndarray = np.zeros(0, np.int32)  # person code of each label
        self._people = PersonCodes(np.zeros(0, object))
        self._build_s = 0.0

    # building -------------------------------------------------------------------------------------------
    def rebuild(self, model_id: str | None = None) -> IndexStats:
        """Everything from the store: the samples of `model_id` (default: the active model)."""
        with self._lock:
            self._rebuild_locked(model_id)
            return self._stats_locked()

    def _rebuild_locked(self, model_id: str | None = None) -> None:
        assert self.store is not None, "an index without a store is filled by replace()"
        model_id = model_id or self.store.active().model_id
        found = self.store.of_model(model_id)
        self._replace_locked(model_id, sample_labels(found.sample_ids), found.person_ids, found.vectors)

    def replace(self, model_id: str, labels: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> IndexStats:
        """Hold exactly these (K,) labels, (K,) person ids (str, or UTF-8 bytes as 'S<n>') and (K, D) unit
        vectors of `model_id`."""
        with self._lock:
            self._replace_locked(model_id, labels, person_ids, vectors)
            return self._stats_locked()

    def _replace_locked(self, model_id: str, labels: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        started = time.perf_counter()
        self._people = PersonCodes(person_ids)
        order = np.argsort(labels, kind="stable")
        self._labels, self._owners = labels[order].astype(np.int64), self._people.codes_of_build[order]
        dim = vectors.shape[1] if vectors.ndim == 2 and vectors.shape[1] else max(self._index.dim, 1)
        self._index = build_index(labels.astype(np.int64), vectors.reshape(len(labels), dim), self.config, dim)
        self.model_id = model_id
        self._build_s = time.perf_counter() - started
        log.info(
            "1:N index of %s: %d samples of %d people, %s, built in %.1f s",
            model_id,
            len(labels),
            len(self._people),
            type(self._index).__name__,
            self._build_s,
        )

    # hooks ----------------------------------------------------------------------------------------------
    def person_changed(self, person_id: str) -> None:
        """After enrollment: the person's samples as the store has them now."""
        with self._lock:
            if self._stale_locked():
                return self._rebuild_locked()
            assert self.store is not None
            found = self.store.of_model(self.model_id, person_id)
            self._drop_locked(self._labels[self._owners_are(person_id)])
            self._add_locked(found)
            if self._misfit_locked():
                self._rebuild_locked()

    def samples_removed(self, sample_ids: list[str]) -> None:
        """After samples were deleted."""
        with self._lock:
            self._drop_locked(sample_labels(sample_ids))

    def person_removed(self, person_id: str) -> None:
        """After a person (with all samples) was deleted."""
        with self._lock:
            self._drop_locked(self._labels[self._owners_are(person_id)])

    def _stale_locked(self) -> bool:
        return self.store is not None and self.store.active().model_id != self.model_id

    def _misfit_locked(self) -> bool:
        """The kind no longer suits the size, or IVF cells were trained on far fewer vectors than it holds."""
        count, index = len(self._labels), self._index
        if isinstance(index, IvfIndex):
            grown = count > self.config.retrain_growth * max(index.trained_on, 1)
            return grown or (self.config.type == "auto" and count < self.config.exact_max_samples // 2)
        return wants_ivf(count, self.config)

    def _owners_are(self, person_id: str) -> np.ndarray:
        code = self._people.code(person_id)
        return self._owners == code if code is not None else np.zeros(len(self._owners), bool)

    def _drop_locked(self, labels: np.ndarray) -> None:
        if len(labels) == 0:
            return
        self._index.remove(labels)
        at = np.searchsorted(self._labels, labels)
        held = at[(at < len(self._labels)) & (self._labels[np.minimum(at, len(self._labels) - 1)] == labels)]
        self._labels, self._owners = np.delete(self._labels, held), np.delete(self._owners, held)

    def _add_locked(self, found: SampleEmbeddings) -> None:
        if not found.sample_ids:
            return
        labels = sample_labels(found.sample_ids)
        fresh = ~np.isin(labels, self._labels)  # an id already held (a repeated hook) is not added twice
        labels, vectors = labels[fresh], found.vectors[fresh]
        codes = np.array([self._people.code_or_add(str(p)) for p in found.person_ids[fresh]], np.int32)
        if len(self._index) == 0 and self._index.dim != vectors.shape[1]:
            self._index = ExactIndex(vectors.shape[1])
        self._index.add(labels, vectors)
        order = np.argsort(labels)  # inserted in place: no sort of the whole (possibly 10M) label array
        at = np.searchsorted(self._labels, labels[order])
        self._labels = np.insert(self._labels, at, labels[order])
        self._owners = np.insert(self._owners, at, codes[order])

    # searching ------------------------------------------------------------------------------------------
    def search_people(self, query: np.ndarray, top_k: int, model_id: str) -> list[tuple[str, float]]:
        """Up to `top_k` (person id, best sample cosine) for a (D,) unit query embedded by `model_id`."""
        with self._lock:
            if model_id != self.model_id and self.store is not None:
                self._rebuild_locked(model_id)
            total = len(self._labels)
            want = min(total, top_k * self.config.oversample)
            while want > 0:
                scores, labels = self._index.search(query.reshape(1, -1), want)
                best = self._best_per_person(scores[0], labels[0])
                if len(best) >= top_k or want >= total:
                    return best[:top_k]
                want = min(total, want * 4)
            return []

    def _best_per_person(self, scores: np.ndarray, labels: np.ndarray) -> list[tuple[str, float]]:
        found = labels >= 0
        owners = self._owners[np.searchsorted(self._labels, labels[found])]
        _, first = np.unique(owners, return_index=True)  # results are sorted: a person's first is its best
        first.sort()
        return [(self._people.person(int(owners[i])), float(scores[found][i])) for i in first]

    def nearest(self, vectors: np.ndarray, k: int) -> Neighbours:
        """The k nearest samples of each (Q, D) unit vector: their owners and cosines, highest first."""
        with self._lock:
            scores, labels = self._index.search(vectors, k)
            found = labels >= 0
            owners = np.full(labels.shape, "", dtype=object)
            owners[found] = self._people.people(self._owners[np.searchsorted(self._labels, labels[found])])
            return Neighbours(owners, np.where(found, scores, -1.0).astype(np.float32))

    def set_nprobe(self, cells: int) -> None:
        """IVF cells scanned per query from now on (no effect on an exact index)."""
        with self._lock:
            if isinstance(self._index, IvfIndex):
                self._index.nprobe = cells

    def stats(self) -> IndexStats:
        with self._lock:
            return self._stats_locked()

    def _stats_locked(self) -> IndexStats:
        kind = "ivf" if isinstance(self._index, IvfIndex) else "exact"
        metadata = self._labels.nbytes + self._owners.nbytes + self._people.memory_bytes()
        people = int(np.count_nonzero(np.bincount(self._owners))) if len(self._owners) else 0
        return IndexStats(
            kind, self.model_id, len(self._labels), people, self._index.memory_bytes() + metadata, self._build_s
        )
