"""The LFW split of the visitor evaluation: a development set that chooses the clustering threshold, and
200 other people whose photos are clustered.

LFW's own protocol says which images may tune a method: View 1's `pairsDevTrain.txt` is for choosing
parameters. `pairs.txt` (View 2) cannot supply the test people: only 8 people outside it have 4 photos or
more. So the threshold comes from every pair of the 3,443 images of `pairsDevTrain.txt` (same person or
not, by folder name), and the test people are `people` of the 249 people who appear in no pair of
`pairsDevTrain.txt` and have at least `min_photos` photos, chosen with a fixed seed; all their photos are
used. No test person is in the development set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.eval.lfw import image_path


@dataclass(frozen=True)
class LabelledImages:
    """Image paths (N,) and each one's person index (N,) into `people`."""

    paths: list[Path]
    labels: np.ndarray
    people: list[str]


@dataclass(frozen=True)
class VisitorSplit:
    dev: LabelledImages
    test: LabelledImages


def _dev_images(lfw_dir: Path) -> list[tuple[str, int]]:
    """(person, image number) of every image named in pairsDevTrain.txt, sorted."""
    images: set[tuple[str, int]] = set()
    for line in (lfw_dir / "pairsDevTrain.txt").read_text().split("\n")[1:]:
        parts = line.split()
        if len(parts) == 3:
            images |= {(parts[0], int(parts[1])), (parts[0], int(parts[2]))}
        elif len(parts) == 4:
            images |= {(parts[0], int(parts[1])), (parts[2], int(parts[3]))}
    return sorted(images)


def _labelled(lfw_dir: Path, images: list[tuple[str, int]]) -> LabelledImages:
    people = sorted({name for name, _ in images})
    index = {name: i for i, name in enumerate(people)}
    return LabelledImages(
        [image_path(lfw_dir, name, n) for name, n in images],
        np.array([index[name] for name, _ in images], np.int64),
        people,
    )


def visitor_split(lfw_dir: Path, people: int = 200, min_photos: int = 4, seed: int = 0) -> VisitorSplit:
    """The development images and `people` test people (see the module docstring)."""
    dev = _dev_images(lfw_dir)
    dev_people = {name for name, _ in dev}
    folders = sorted(p for p in (lfw_dir / "images_deepfunneled").iterdir() if p.is_dir())
    photos = {f.name: len(list(f.glob("*.jpg"))) for f in folders if f.name not in dev_people}
    candidates = sorted(name for name, n in photos.items() if n >= min_photos)
    if len(candidates) < people:
        raise ValueError(f"only {len(candidates)} LFW people outside pairsDevTrain.txt have {min_photos}+ photos")
    random.Random(seed).shuffle(candidates)
    test = sorted((name, n) for name in candidates[:people] for n in range(1, photos[name] + 1))
    return VisitorSplit(_labelled(lfw_dir, dev), _labelled(lfw_dir, test))
