"""Cluster quality against true identities: pairwise precision/recall and BCubed.

Pairwise: over all pairs of items, precision = share of pairs put in one cluster that are the same person,
recall = share of same-person pairs put in one cluster. It weighs large clusters quadratically (one person
with 100 photos dominates). BCubed (Bagga & Baldwin 1998; Amigo et al. 2009) averages per item: an item's
precision is the share of its cluster that is its person, its recall the share of its person that is in its
cluster; every item counts once, so small visitors matter as much as frequent ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClusterQuality:
    """Figures of one clustering (labels) against the truth (classes); all rates 0..1."""

    items: int
    people: int
    clusters: int
    pairwise_precision: float
    pairwise_recall: float
    bcubed_precision: float
    bcubed_recall: float
    clusters_per_person: float  # mean over people of the clusters their items fell into
    pure_clusters: float  # share of clusters holding one person only

    @property
    def pairwise_f(self) -> float:
        return _f(self.pairwise_precision, self.pairwise_recall)

    @property
    def bcubed_f(self) -> float:
        return _f(self.bcubed_precision, self.bcubed_recall)


def _f(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _contingency(truth: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(people, clusters) counts of items."""
    _, t = np.unique(truth, return_inverse=True)
    _, c = np.unique(labels, return_inverse=True)
    table = np.zeros((int(t.max()) + 1, int(c.max()) + 1), np.int64)
    np.add.at(table, (t, c), 1)
    return table


def cluster_quality(truth: np.ndarray, labels: np.ndarray) -> ClusterQuality:
    """(N,) true person of each item and (N,) cluster of each item -> the figures above."""
    if len(truth) != len(labels) or len(truth) == 0:
        raise ValueError("need as many labels as items, and at least one item")
    table = _contingency(truth, labels)
    people, clusters = table.sum(axis=1), table.sum(axis=0)
    together = float((table * (table - 1)).sum() / 2)
    predicted = float((clusters * (clusters - 1)).sum() / 2)
    same = float((people * (people - 1)).sum() / 2)
    n = float(len(truth))
    # each item in cell (p, c) has precision table[p, c] / clusters[c] and recall table[p, c] / people[p]
    bcubed_p = float((table**2 / clusters[None, :]).sum() / n)
    bcubed_r = float((table**2 / people[:, None]).sum() / n)
    return ClusterQuality(
        items=len(truth),
        people=len(people),
        clusters=len(clusters),
        pairwise_precision=together / predicted if predicted else 1.0,
        pairwise_recall=together / same if same else 1.0,
        bcubed_precision=bcubed_p,
        bcubed_recall=bcubed_r,
        clusters_per_person=float((table > 0).sum(axis=1).mean()),
        pure_clusters=float(((table > 0).sum(axis=0) == 1).mean()),
    )
