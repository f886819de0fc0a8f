"""Visitors on LFW: how the threshold was chosen (development images) and how well 200 other people's photos,
fed to a real hub as unknown tracks in random order, cluster into visitors."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hub.visitors.cluster import nearest_centre, recluster, unit_rows
from hub.visitors.maintenance import recluster_all
from models.eval.lfw import cache_key, crops_for_images
from models.pipeline import FacePipeline
from models.registry import default_cache_dir
from tooling.visitor_eval.hubs import eval_hub, lfw_event, visitor_labels
from tooling.visitor_eval.lfw_split import LabelledImages, visitor_split
from tooling.visitor_eval.metrics import ClusterQuality, cluster_quality


@dataclass(frozen=True)
class ThresholdPoint:
    """On the development images: the pair false-accept rate and same-person accept rate at a cosine, and
    the BCubed F of the online rule (one random order) and of average linkage at that cosine."""

    cosine: float
    pair_far: float
    pair_tar: float
    online_f: float
    linkage_f: float


@dataclass(frozen=True)
class LfwVisitors:
    dev_images: int
    dev_people: int
    test_images: int
    test_people: int
    join_cosine: float
    points: list[ThresholdPoint]
    online: list[ClusterQuality]  # one per arrival order, as the hub assigned them on arrival
    reclustered: list[ClusterQuality]  # the same hubs after one re-clustering


def embed_images(
    pipeline: FacePipeline, lfw_dir: Path, part: LabelledImages, tag: str
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops (N, 112, 112, 3) (cached like `facefleet eval lfw`) and their unit embeddings (N, D)."""
    key = cache_key(lfw_dir.resolve(), len(part.paths), pipeline.detector.config, "visitors", tag)
    crops, _ = crops_for_images(
        pipeline.detector,
        part.paths,
        default_cache_dir() / "lfw" / f"visitors-{key}.npz",
        desc=f"LFW {tag} detect+align",
    )
    return crops, pipeline.embedder.embed(crops)


def online_labels(templates: np.ndarray, join_cosine: float, order: np.ndarray) -> np.ndarray:
    """The online rule of `hub.visitors.cluster` alone (no database), for the threshold sweep."""
    sums = np.zeros_like(templates, np.float64)
    labels = np.empty(len(templates), np.int64)
    visitors = 0
    for i in order.tolist():
        row = nearest_centre(templates[i], unit_rows(sums[:visitors]), join_cosine)
        if row < 0:
            row, visitors = visitors, visitors + 1
        sums[row] += templates[i]
        labels[i] = row
    return labels


def threshold_points(dev: np.ndarray, labels: np.ndarray, cosines: tuple[float, ...]) -> list[ThresholdPoint]:
    iu = np.triu_indices(len(dev), 1)
    scores = (dev @ dev.T)[iu]
    same = (labels[:, None] == labels[None, :])[iu]
    order = np.random.default_rng(0).permutation(len(dev))
    return [
        ThresholdPoint(
            c,
            float((scores[~same] >= c).mean()),
            float((scores[same] >= c).mean()),
            cluster_quality(labels, online_labels(dev, c, order)).bcubed_f,
            cluster_quality(labels, recluster(dev, [], c)).bcubed_f,
        )
        for c in cosines
    ]


def _hub_run(
    pipeline: FacePipeline, crops: np.ndarray, templates: np.ndarray, labels: np.ndarray, join_cosine: float, seed: int
) -> tuple[ClusterQuality, ClusterQuality]:
    """Feed the photos in a random order to a fresh hub; quality on arrival and after a re-clustering."""
    order = np.random.default_rng(seed).permutation(len(templates))
    with tempfile.TemporaryDirectory(prefix="facefleet-visitors-") as tmp:
        hub = eval_hub(Path(tmp), pipeline, join_cosine)
        try:
            for i in order.tolist():
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crops[i], cv2.COLOR_RGB2BGR))
                hub.visitors.on_event(lfw_event(f"lfw{i:06d}", templates[i], jpeg.tobytes(), pipeline.model_id))
            ids = [f"lfw{i:06d}" for i in range(len(templates))]
            online = cluster_quality(labels, visitor_labels(hub, ids))
            recluster_all(hub.visitor_store)
            return online, cluster_quality(labels, visitor_labels(hub, ids))
        finally:
            hub.db.close()


def run_lfw_visitors(
    pipeline: FacePipeline,
    lfw_dir: Path,
    join_cosine: float,
    people: int = 200,
    orders: int = 3,
    cosines: tuple[float, ...] = (0.40, 0.44, 0.46, 0.48, 0.50, 0.52, 0.56),
) -> LfwVisitors:
    split = visitor_split(lfw_dir, people)
    _, dev = embed_images(pipeline, lfw_dir, split.dev, "dev")
    crops, test = embed_images(pipeline, lfw_dir, split.test, "test")
    points = threshold_points(dev, split.dev.labels, cosines)
    runs = [_hub_run(pipeline, crops, test, split.test.labels, join_cosine, seed) for seed in range(orders)]
    return LfwVisitors(
        len(dev),
        len(split.dev.people),
        len(test),
        len(split.test.people),
        join_cosine,
        points,
        [r[0] for r in runs],
        [r[1] for r in runs],
    )
