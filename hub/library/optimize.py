"""Which samples to drop when a person has more than the library keeps: near-duplicates, then low quality."""

from __future__ import annotations

import numpy as np


def samples_to_drop(embeddings: np.ndarray, quality: np.ndarray, keep: int) -> list[int]:
    """Indices to remove so that `keep` of the K samples remain.

    Greedy: while too many remain, take the most similar remaining pair (the sample that adds least
    new information) and drop its lower-quality member. Near-duplicates therefore go first; among
    equally spread samples the pair with the highest cosine still loses its weaker member.

    Args:
        embeddings: (K, D) unit vectors.
        quality: (K,) 0..1 usefulness, higher is better (see `hub.library.enroll.face_quality`).
        keep: samples to keep, >= 0.
    Returns:
        Sorted indices into the K samples, K - keep of them (none when K <= keep).
    """
    count = len(embeddings)
    if count <= keep:
        return []
    if keep == 0:
        return list(range(count))
    similarity = embeddings @ embeddings.T
    np.fill_diagonal(similarity, -np.inf)
    alive = np.ones(count, bool)
    dropped = []
    while alive.sum() > keep:
        masked = np.where(alive[:, None] & alive[None, :], similarity, -np.inf)
        i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
        loser = int(i if quality[i] < quality[j] else j)
        alive[loser] = False
        dropped.append(loser)
    return sorted(dropped)
