"""Scoring an embedder: identification of held-out enrolled samples, and LFW pair verification.

Both take an `embed` function ((N, 112, 112, 3) RGB uint8 -> (N, D) unit vectors), so the same code scores
the torch model during training and the exported FP32/INT8 ONNX files in the gate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facefleet.gallery import Gallery, build_gallery
from models.embed.embedder import Embedder
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.eval.eval_lfw import lfw_crops
from models.eval.verification import kfold_verification
from models.pipeline import FacePipeline
from models.registry import Preprocess

EmbedFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class IdentificationMetrics:
    """accuracy: share of held-out samples whose best-matching person is right; mean_margin: mean of
    (cosine to own templates - best cosine to another person), a finer signal than accuracy."""

    accuracy: float
    mean_margin: float
    samples: int


def identification(gallery: Gallery, embeddings: np.ndarray, labels: np.ndarray) -> IdentificationMetrics:
    """Nearest-template identification of (N, D) unit embeddings with true person indices (N,)."""
    scores = gallery.person_scores(embeddings)  # (N, P)
    rows = np.arange(len(labels))
    own = scores[rows, labels]
    others = scores.copy()
    others[rows, labels] = -np.inf
    return IdentificationMetrics(
        float((scores.argmax(axis=1) == labels).mean()), float((own - others.max(axis=1)).mean()), len(labels)
    )


def held_out_identification(
    embed: EmbedFn,
    train_crops: np.ndarray,
    train_labels: np.ndarray,
    held_out_crops: np.ndarray,
    held_out_labels: np.ndarray,
) -> IdentificationMetrics:
    people = int(train_labels.max()) + 1
    ids = tuple(str(i) for i in range(people))
    gallery = build_gallery("eval", "eval", ids, ids, embed(train_crops), train_labels)
    return identification(gallery, embed(held_out_crops), held_out_labels)


@dataclass(frozen=True)
class LfwBenchmark:
    """Aligned LFW crops (M, 112, 112, 3) and pairs as indices into them, with fold ids (P,)."""

    crops_rgb: np.ndarray
    index_a: np.ndarray
    index_b: np.ndarray
    same: np.ndarray
    fold: np.ndarray

    def accuracy(self, embed: EmbedFn) -> float:
        """k-fold verification accuracy (threshold chosen on the other folds; one fold: on itself)."""
        vectors = embed(self.crops_rgb)
        scores = np.einsum("ij,ij->i", vectors[self.index_a], vectors[self.index_b])
        return kfold_verification(scores, self.same, self.fold).accuracy


def load_lfw_benchmark(
    pipeline: FacePipeline, lfw_dir: Path, folds: Sequence[int], pairs_per_fold: int | None = None
) -> LfwBenchmark:
    """The pairs of the chosen folds of pairs.txt (optionally the first `pairs_per_fold`/2 same and different
    pairs of each) with their aligned crops. The crops are those `facefleet eval lfw` caches."""
    pairs, crops, _found = lfw_crops(pipeline, lfw_dir, max(folds) + 1, tag="fp32")
    keep = np.zeros(len(pairs.same), bool)
    for k in folds:
        for same in (True, False):
            chosen = np.flatnonzero((pairs.fold == k) & (pairs.same == same))
            keep[chosen[: None if pairs_per_fold is None else pairs_per_fold // 2]] = True
    used, inverse = np.unique(np.r_[pairs.index_a[keep], pairs.index_b[keep]], return_inverse=True)
    n = int(keep.sum())
    return LfwBenchmark(crops[used], inverse[:n], inverse[n:], pairs.same[keep], pairs.fold[keep])


def lfw_folds_without(lfw_dir: Path, names: Sequence[str]) -> list[int]:
    """Folds of pairs.txt in which none of these people appear (the folds are identity-disjoint), so a
    model trained on them is still evaluated on strangers."""
    from models.eval.lfw import read_pairs

    pairs = read_pairs(lfw_dir)
    people = {p.parent.name for p in pairs.images}
    names_set = set(names) & people
    bad = {
        int(f)
        for f, a, b in zip(pairs.fold, pairs.index_a, pairs.index_b, strict=True)
        if pairs.images[a].parent.name in names_set or pairs.images[b].parent.name in names_set
    }
    return sorted(set(int(f) for f in np.unique(pairs.fold)) - bad)


def onnx_embed_fn(path: Path, preprocess: Preprocess, embedding_dim: int) -> EmbedFn:
    """The edge's own embedding path (onnxruntime on CPU) for an ONNX file."""
    return Embedder(open_backend(path, OnnxRuntimeConfig()), preprocess, embedding_dim, max_batch=64).embed
