"""Open-set identification on LFW: who is this, or nobody we know?

Protocol (the usual watch-list setup, e.g. IJB-C's 1:N with non-mated probes):
- gallery: one photo (the first) of each of N people who have at least two photos (all 1,680 such LFW
  people, and random sub-galleries of 10, 30 and 100 of them, the sizes a deployment has);
- mated probes: up to `probes_per_person` further photos of each gallery person;
- non-mated probes: every photo of people with exactly one photo (nobody in the gallery).
A probe is accepted as gallery person p when p has its highest cosine and that cosine reaches the threshold.
FAR is the share of non-mated probes accepted as anybody; DIR (detection and identification rate) is the
share of mated probes accepted as the right person. The threshold for a FAR is read off the non-mated
probes' top scores, so the figure says which cosine a deployment must require for that false-accept rate
against a gallery of this size. The largest false accepts at the full size are mostly LFW's own label
noise (one person under two spellings, twins), which is why its FAR 1e-3 threshold jumps.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.eval.lfw import cache_key, crops_for_images
from models.pipeline import FacePipeline
from models.registry import default_cache_dir


@dataclass(frozen=True)
class OpenSetSplit:
    """Image paths of the gallery (one per person), mated probes with their gallery index, non-mated probes."""

    gallery: list[Path]
    mated: list[Path]
    mated_owner: np.ndarray
    non_mated: list[Path]


@dataclass(frozen=True)
class OpenSetPoint:
    far_target: float
    threshold: float
    far: float
    dir: float


@dataclass(frozen=True)
class GallerySize:
    """Open-set figures for galleries of `people` people (averaged over random sub-galleries)."""

    people: int
    points: list[OpenSetPoint]
    far_at_threshold: float
    dir_at_threshold: float


@dataclass(frozen=True)
class OpenSetReport:
    gallery_people: int
    mated_probes: int
    non_mated_probes: int
    rank1: float
    threshold: float
    sizes: list[GallerySize]


def lfw_open_set_split(lfw_dir: Path, probes_per_person: int = 4) -> OpenSetSplit:
    """The split described in the module docstring, in sorted (reproducible) order."""
    by_person: dict[str, list[Path]] = defaultdict(list)
    for path in sorted((lfw_dir / "images_deepfunneled").glob("*/*.jpg")):
        by_person[path.parent.name].append(path)
    gallery: list[Path] = []
    mated: list[Path] = []
    owners: list[int] = []
    non_mated: list[Path] = []
    for photos in by_person.values():
        if len(photos) == 1:
            non_mated.append(photos[0])
        else:
            owners += [len(gallery)] * len(photos[1 : 1 + probes_per_person])
            mated += photos[1 : 1 + probes_per_person]
            gallery.append(photos[0])
    return OpenSetSplit(gallery, mated, np.array(owners, np.int64), non_mated)


def open_set_metrics(
    gallery: np.ndarray,
    mated: np.ndarray,
    mated_owner: np.ndarray,
    non_mated: np.ndarray,
    threshold: float,
    fars: tuple[float, ...] = (1e-2, 1e-3),
) -> GallerySize:
    """(G, D) gallery, (M, D) mated probes with owners (M,) in 0..G-1, (K, D) non-mated probes, unit vectors.

    One point per FAR target: the smallest cosine that keeps the non-mated accept rate at or under it, and
    the DIR there; plus FAR and DIR at `threshold`.
    """
    mated_scores = mated @ gallery.T
    best = mated_scores.argmax(axis=1)
    best_score = mated_scores[np.arange(len(best)), best]
    right = best == mated_owner
    impostor = np.sort((non_mated @ gallery.T).max(axis=1))[::-1]
    points = []
    for far in fars:
        allowed = int(np.floor(far * len(impostor)))  # this many non-mated probes may pass
        cut = float(np.nextafter(impostor[allowed], np.float32(np.inf))) if allowed < len(impostor) else -1.0
        points.append(
            OpenSetPoint(far, cut, float((impostor >= cut).mean()), float((right & (best_score >= cut)).mean()))
        )
    return GallerySize(
        len(gallery), points, float((impostor >= threshold).mean()), float((right & (best_score >= threshold)).mean())
    )


def sub_gallery_metrics(
    embeddings: np.ndarray, split: OpenSetSplit, people: int, threshold: float, repeats: int = 50, seed: int = 0
) -> GallerySize:
    """`open_set_metrics` averaged over `repeats` random galleries of `people` of the split's gallery."""
    g, m = len(split.gallery), len(split.mated)
    gallery, mated, non_mated = embeddings[:g], embeddings[g : g + m], embeddings[g + m :]
    if people >= g:
        return open_set_metrics(gallery, mated, split.mated_owner, non_mated, threshold)
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(repeats):
        chosen = rng.choice(g, people, replace=False)
        keep = np.isin(split.mated_owner, chosen)
        owner = np.searchsorted(np.sort(chosen), split.mated_owner[keep])
        runs.append(open_set_metrics(gallery[np.sort(chosen)], mated[keep], owner, non_mated, threshold))
    points = [
        OpenSetPoint(
            p.far_target,
            float(np.mean([r.points[i].threshold for r in runs])),
            float(np.mean([r.points[i].far for r in runs])),
            float(np.mean([r.points[i].dir for r in runs])),
        )
        for i, p in enumerate(runs[0].points)
    ]
    return GallerySize(
        people,
        points,
        float(np.mean([r.far_at_threshold for r in runs])),
        float(np.mean([r.dir_at_threshold for r in runs])),
    )


def evaluate_open_set(
    pipeline: FacePipeline,
    lfw_dir: Path,
    threshold: float,
    probes_per_person: int = 4,
    sizes: tuple[int, ...] = (10, 30, 100),
    tag: str = "",
) -> OpenSetReport:
    """The open-set figures of this pipeline on LFW; `threshold` is the deployment's naming threshold."""
    split = lfw_open_set_split(lfw_dir, probes_per_person)
    paths = split.gallery + split.mated + split.non_mated
    key = cache_key(lfw_dir.resolve(), len(paths), pipeline.detector.config, "openset", tag)
    crops, _ = crops_for_images(
        pipeline.detector, paths, default_cache_dir() / "lfw" / f"{key}.npz", desc="LFW open-set detect+align"
    )
    embeddings = pipeline.embedder.embed(crops)
    g, m = len(split.gallery), len(split.mated)
    rank1 = float(((embeddings[g : g + m] @ embeddings[:g].T).argmax(axis=1) == split.mated_owner).mean())
    results = [sub_gallery_metrics(embeddings, split, n, threshold) for n in (*sizes, g)]
    return OpenSetReport(g, m, len(split.non_mated), rank1, threshold, results)


def format_open_set(label: str, report: OpenSetReport) -> list[str]:
    lines = [
        f"{label} open-set: {report.gallery_people} people with 1 gallery photo each, {report.mated_probes} "
        f"mated / {report.non_mated_probes} non-mated probes (people with one photo); rank-1 "
        f"{100 * report.rank1:.2f}%"
    ]
    for size in report.sizes:
        parts = [f"FAR {p.far_target:g}: threshold {p.threshold:.3f}, DIR {100 * p.dir:.2f}%" for p in size.points]
        lines.append(
            f"  gallery of {size.people:>4}: "
            + "; ".join(parts)
            + f"; at the agent's threshold {report.threshold:.2f}: FAR {size.far_at_threshold:.4f}, "
            f"DIR {100 * size.dir_at_threshold:.2f}%"
        )
    return lines
