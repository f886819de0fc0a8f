"""The clustering rule of visitors, as pure functions on unit templates.

Online, as tracks arrive: a track joins the visitor whose centre (the normalised sum of its tracks'
templates) is nearest, when that cosine reaches `join_cosine`; otherwise it starts a visitor of its own.
That is the nearest-centre ("leader") rule: one (V, D) product per track, so it keeps up with any event rate,
but it depends on arrival order: a person's first, poorest track may found a visitor that their later, better
tracks do not reach.

Periodically the newest tracks of a model are clustered again from scratch with average-linkage
agglomerative clustering (`scipy.cluster.hierarchy`, cosine distance, cut at `1 - join_cosine`): two groups
merge when the mean cosine over all their pairs of tracks reaches `join_cosine`, whatever the order they came
in. A user's decisions are kept: the tracks of a visitor a user merged or ignored ("pinned") are given distance
0 among themselves, so they join first and, agglomeration never splitting what it joined, stay together.
"""

from __future__ import annotations

import numpy as np

# Memory of a re-clustering is the condensed distance matrix: 4 N^2 bytes (N tracks, float64).
MAX_RECLUSTER_TRACKS = 10_000


def nearest_centre(template: np.ndarray, centres: np.ndarray, join_cosine: float) -> int:
    """The row of `centres` (V, D) unit vectors a (D,) unit template joins, or -1 for a new visitor."""
    if len(centres) == 0:
        return -1
    cosines = centres @ template
    best = int(np.argmax(cosines))
    return best if float(cosines[best]) >= join_cosine else -1


def unit_rows(sums: np.ndarray) -> np.ndarray:
    """(V, D) sums of unit templates -> (V, D) float32 unit centres."""
    norms = np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    centres: np.ndarray = (sums / norms).astype(np.float32)
    return centres


def _condensed_index(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Positions of pairs (i < j) in scipy's condensed distance vector of n points."""
    index: np.ndarray = n * i - i * (i + 1) // 2 + (j - i - 1)
    return index


def recluster(templates: np.ndarray, pins: list[np.ndarray], join_cosine: float) -> np.ndarray:
    """Average-linkage clusters of (N, D) unit templates; (N,) labels 0..K-1.

    Args:
        templates: (N, D) unit vectors, N <= MAX_RECLUSTER_TRACKS.
        pins: index arrays into `templates` of tracks that must stay together (a user's decision).
        join_cosine: two groups merge while the mean cosine between their tracks reaches this.
    """
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    n = len(templates)
    if n > MAX_RECLUSTER_TRACKS:
        raise ValueError(f"{n} tracks are more than a re-clustering takes ({MAX_RECLUSTER_TRACKS})")
    if n < 2:
        return np.zeros(n, np.int64)
    distances = np.clip(pdist(templates.astype(np.float64), "cosine"), 0.0, 2.0)
    for group in pins:
        i, j = np.triu_indices(len(group), k=1)
        a, b = np.minimum(group[i], group[j]), np.maximum(group[i], group[j])
        distances[_condensed_index(n, a, b)] = 0.0
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=1.0 - join_cosine, criterion="distance")
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def relabel(old: list[str | None], new: np.ndarray, fresh_id: list[str]) -> list[str]:
    """Visitor ids for re-clustered tracks that keep the ids people saw where they can.

    Args:
        old: (N,) each track's visitor id before (None for none).
        new: (N,) cluster labels 0..K-1 from `recluster`.
        fresh_id: ids to use, in order, for clusters that inherit none.
    Returns:
        (N,) visitor id of each track: each cluster takes the old id most of its tracks had (largest clusters
        choose first, an id goes to one cluster only); the others take fresh ids.
    """
    clusters = [np.flatnonzero(new == k) for k in range(int(new.max()) + 1 if len(new) else 0)]
    taken: set[str] = set()
    names: dict[int, str] = {}
    for k in sorted(range(len(clusters)), key=lambda k: -len(clusters[k])):
        votes: dict[str, int] = {}
        for i in clusters[k].tolist():
            if old[i] is not None and old[i] not in taken:
                votes[str(old[i])] = votes.get(str(old[i]), 0) + 1
        if votes:
            names[k] = max(sorted(votes), key=lambda v: votes[v])
            taken.add(names[k])
    fresh = iter(fresh_id)
    for k in range(len(clusters)):
        if k not in names:
            names[k] = next(fresh)
    return [names[int(k)] for k in new]
