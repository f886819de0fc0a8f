"""A track's appearance: the quality-weighted mean of its embeddings (the standard template aggregation for
video face recognition), and the test that tells a face of the same person from someone else's.

Weights: an embedding counts with its face's quality weight (size x sharpness, `edge.recognize.quality`) times the
norm of the embedder's raw output, which is large for recognisable crops and small for blurred, profile or
badly aligned ones. Only ratios of weights within one track matter, so the norm's scale, which differs
between models, cancels out.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# An embedding far from the track's template splits the track only when its weight is at least the
# template's best weight divided by this: a crop much worse than anything pooled is more likely a bad
# alignment (a face turning to profile) than another person.
TRUST_RATIO = 2.0

Verdict = Literal["pool", "split", "outlier"]


class PooledTemplate:
    """Running weighted mean of unit embeddings (D,); bounded memory (one vector), no history kept."""

    def __init__(self, dim: int) -> None:
        self._sum = np.zeros(dim, np.float64)
        self.count = 0
        self.best_weight = 0.0

    @property
    def empty(self) -> bool:
        return self.count == 0

    @property
    def vector(self) -> np.ndarray:
        """(D,) float32 unit template; zeros while empty."""
        norm = float(np.linalg.norm(self._sum))
        return (self._sum / norm).astype(np.float32) if norm > 0 else np.zeros_like(self._sum, np.float32)

    def add(self, unit: np.ndarray, weight: float) -> None:
        """Pool one (D,) unit embedding with weight > 0."""
        self._sum += weight * unit.astype(np.float64)
        self.count += 1
        self.best_weight = max(self.best_weight, weight)

    def trusts(self, weight: float) -> bool:
        """Whether an embedding of this weight is good enough to contradict the template (TRUST_RATIO)."""
        return weight >= self.best_weight / TRUST_RATIO


def pool_weight(face_weight: np.ndarray, raw_norm: np.ndarray) -> np.ndarray:
    """(N,) face quality weights and (N,) raw embedding norms -> (N,) pooling weights."""
    weight: np.ndarray = (face_weight * raw_norm).astype(np.float32)
    return weight


def appearance_verdict(cosine: float, weight: float, template: PooledTemplate, gate: float) -> Verdict:
    """How one embedding relates to a track's template.

    Returns:
        "pool": the same face (or no template yet): add it.
        "split": a crop as good as the template's that disagrees with it, so someone else's face: refuse
            the association, the face starts a new track (a track never carries two people).
        "outlier": far from the template but a much poorer crop than it holds: keep the association (the
            boxes still say it is this face), do not pool it.
    """
    if template.empty or cosine >= gate:
        return "pool"
    return "split" if template.trusts(weight) else "outlier"
