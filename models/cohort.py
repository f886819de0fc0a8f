"""The impostor cohort: aligned faces of people who are in no gallery, one per person.

Open-set scores are normalised against it (`facefleet.openset`): a probe's cosines to these faces are its
impostor distribution. The cohort is kept as aligned 112x112 crops, not embeddings, so that any embedding
model (a retrained one included) can embed it; the hub embeds it once per model and ships the embeddings
inside each gallery. `facefleet models cohort` makes it from LFW people who appear in no pair of pairs.txt
(so the LFW verification protocol never sees them; the open-set evaluation leaves them out too), the first
photo of each, reproducibly chosen.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import cv2
import numpy as np

from models.eval.lfw import crops_for_images, people_outside_pairs
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import default_model_dir

log = logging.getLogger(__name__)

COHORT_FILE = "cohort.npz"
COHORT_PEOPLE = 1000  # the spread of 1,000 cosines is known to about 2 %: z-scores to about 0.1 at z = 4
CROP_SIDE = 112


class CohortError(ValueError):
    """The cohort file is missing, unreadable or of the wrong shape."""


def cohort_path(model_dir: Path | None = None) -> Path:
    return (model_dir or default_model_dir()) / COHORT_FILE


def cohort_people(lfw_dir: Path, count: int = COHORT_PEOPLE, seed: int = 0) -> list[str]:
    """`count` LFW people outside pairs.txt, reproducibly shuffled (sorted when fewer exist)."""
    people = people_outside_pairs(lfw_dir)
    random.Random(seed).shuffle(people)
    return sorted(people[:count])


def make_cohort(lfw_dir: Path, model_dir: Path | None = None, count: int = COHORT_PEOPLE) -> Path:
    """Write `<model_dir>/cohort.npz`: aligned crops (K, 112, 112, 3) uint8 RGB of the first photo of each
    cohort person whose face was found, and the people's names (K,)."""
    names = cohort_people(lfw_dir, count)
    paths = [sorted((lfw_dir / "images_deepfunneled" / name).glob("*.jpg"))[0] for name in names]
    pipeline = FacePipeline.from_config(PipelineConfig(model_dir=model_dir))
    crops, found = crops_for_images(pipeline.detector, paths, desc="cohort detect+align")
    target = cohort_path(model_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp.npz")
    np.savez_compressed(tmp, crops=crops[found], names=np.array(names)[found])
    tmp.replace(target)
    log.info(
        "cohort of %d faces (%d photos without a face left out) in %s", int(found.sum()), int((~found).sum()), target
    )
    return target


def load_cohort_crops(path: Path) -> np.ndarray:
    """(K, 112, 112, 3) uint8 crops of a cohort file; CohortError when it is missing or malformed."""
    try:
        with np.load(path) as data:
            crops: np.ndarray = data["crops"]
    except (OSError, KeyError, ValueError) as exc:
        raise CohortError(f"{path}: not a cohort file ({exc})") from exc
    if crops.ndim != 4 or crops.shape[1:] != (CROP_SIDE, CROP_SIDE, 3) or crops.dtype != np.uint8:
        raise CohortError(f"{path}: cohort crops of shape {crops.shape} {crops.dtype}, expected (K, 112, 112, 3) uint8")
    return crops


def cohort_embeddings(pipeline: FacePipeline, crops: np.ndarray) -> np.ndarray:
    """(K, D) unit embeddings of the (K, 112, 112, 3) cohort crops by this pipeline's embedder (resized to
    its input side when that is not 112)."""
    side = pipeline.embedder.preprocess.size
    if side != CROP_SIDE:
        crops = np.stack([cv2.resize(c, (side, side), interpolation=cv2.INTER_AREA) for c in crops])
    embeddings: np.ndarray = pipeline.embedder.embed(crops)
    return embeddings


def pipeline_cohort(pipeline: FacePipeline, model_dir: Path | None = None) -> np.ndarray | None:
    """The cohort of `<model_dir>/cohort.npz` embedded by `pipeline`, or None (logged) when there is none."""
    path = cohort_path(model_dir)
    if not path.exists():
        log.warning(
            "no impostor cohort at %s (`facefleet models cohort`): galleries are judged at a fixed threshold", path
        )
        return None
    return cohort_embeddings(pipeline, load_cohort_crops(path))
