"""1:1 verification and 1:N search over the library's sample embeddings."""

from __future__ import annotations

import numpy as np


def rank_people(
    query: np.ndarray, owners: np.ndarray, embeddings: np.ndarray, top_k: int
) -> list[tuple[str, float]]:
    """Best cosine per person, highest first.

    Args:
        query: (D,) unit embedding.
        owners: (K,) person id of each sample.
        embeddings: (K, D) unit sample embeddings.
        top_k: how many people to return.
    Returns:
        Up to top_k (person id, score) pairs.
    """
    if len(embeddings) == 0:
        return []
    cosines = embeddings @ query
    best: dict[str, float] = {}
    for person_id, score in zip(owners.tolist(), cosines.tolist(), strict=True):
        best[person_id] = max(score, best.get(person_id, -1.0))
    return sorted(best.items(), key=lambda item: -item[1])[:top_k]
