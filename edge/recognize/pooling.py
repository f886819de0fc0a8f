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

# An embedding far from the track's template, of a face the boxes vouch for, is pooled only when its weight is
# at least the template's best weight divided by this: a crop much worse than anything pooled is more likely a
# bad alignment (a glance to profile) than a view worth keeping.
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


def appearance_verdict(
    cosine: float, weight: float, template: PooledTemplate, gate: float, boxes_vouch: bool
) -> Verdict:
    """How one embedding relates to a track's template.

    Args:
        boxes_vouch: the face's box continues the track's (overlap at least the tracker's
            `appearance_check_iou`, no suspected cut, no refusal pending): then it is the same head, and a
            face that looks different has turned; otherwise the face must look the same to continue it.
    Returns:
        "pool": the same face (or no template yet), or a crop as good as the template's of a face the boxes
            vouch for (a head turning): add it.
        "split": far from the template where the boxes do not vouch: refuse the association, the face starts
            a new track (a track never carries two people; a box carried across a missed cut loses it here).
        "outlier": far from the template, boxes vouching, a much poorer crop than the template holds (a
            glance to profile, a bad alignment): keep the association, do not pool it.
    """
    if template.empty or cosine >= gate:
        return "pool"
    if not boxes_vouch:
        return "split"
    return "pool" if template.trusts(weight) else "outlier"
