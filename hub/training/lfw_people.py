"""Enrolled people for training runs and tests, taken from some LFW folds so the other folds stay strangers.

The folds of pairs.txt are identity-disjoint: people of fold k appear in no pair of another fold. Training
on people of some folds and evaluating LFW on the others keeps the LFW figure honest. (Few LFW people outside
pairs.txt have more than two images, too few to train on.)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hub.training.dataset import PersonSamples
from models.eval.lfw import cache_key, crops_for_images, read_pairs
from models.pipeline import FacePipeline
from models.registry import default_cache_dir


def fold_people(lfw_dir: Path, folds: Sequence[int], min_images: int) -> list[str]:
    """People of these folds of pairs.txt with at least `min_images` images in the data set, sorted."""
    pairs = read_pairs(lfw_dir)
    in_folds = np.isin(np.r_[pairs.fold, pairs.fold], list(folds))
    names = {pairs.images[i].parent.name for i in np.r_[pairs.index_a, pairs.index_b][in_folds]}
    root = lfw_dir / "images_deepfunneled"
    return sorted(n for n in names if len(list((root / n).glob("*.jpg"))) >= min_images)


def lfw_people_samples(
    pipeline: FacePipeline, lfw_dir: Path, folds: Sequence[int], people: int, min_images: int = 6, max_images: int = 8
) -> list[PersonSamples]:
    """Aligned crops of up to `people` people of `folds` (first `max_images` images each, faces found only);
    cached on disk like the LFW evaluation crops."""
    names = fold_people(lfw_dir, folds, min_images)[:people]
    root = lfw_dir / "images_deepfunneled"
    paths = [p for n in names for p in sorted((root / n).glob("*.jpg"))[:max_images]]
    key = cache_key(lfw_dir.resolve(), "people", *folds, len(paths), pipeline.detector.config)
    crops, found = crops_for_images(
        pipeline.detector, paths, default_cache_dir() / "lfw" / f"people-{key}.npz", desc="enrolled LFW people"
    )
    owners = np.array([p.parent.name for p in paths])
    return [PersonSamples(n, crops[(owners == n) & found], n.replace("_", " ")) for n in names]
