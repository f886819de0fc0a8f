"""The LFW data set: the pairs protocol, the people outside it, and aligned crops of its images."""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from models.detect.mtcnn import DetectorConfig, MtcnnDetector
from models.embed.align import ARCFACE_TEMPLATE_112, align_faces
from models.faces import Faces
from models.imageio import load_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LfwPairs:
    """The 6,000 pairs of pairs.txt: image paths (2, P) as indices into `images`, same flags, fold ids."""

    images: list[Path]
    index_a: np.ndarray
    index_b: np.ndarray
    same: np.ndarray
    fold: np.ndarray


def image_path(lfw_dir: Path, name: str, number: int) -> Path:
    return lfw_dir / "images_deepfunneled" / name / f"{name}_{number:04d}.jpg"


def read_pairs(lfw_dir: Path, folds: int | None = None) -> LfwPairs:
    """Parse pairs.txt (first line: folds, pairs per fold; then `Name n1 n2` or `Name1 n1 Name2 n2`)."""
    lines = (lfw_dir / "pairs.txt").read_text().split("\n")
    n_folds, per_fold = (int(v) for v in lines[0].split())
    images: dict[Path, int] = {}
    rows = []
    for i, line in enumerate(filter(None, (ln.strip() for ln in lines[1:]))):
        parts = line.split()
        if len(parts) == 3:
            a, b = image_path(lfw_dir, parts[0], int(parts[1])), image_path(lfw_dir, parts[0], int(parts[2]))
        elif len(parts) == 4:
            a, b = image_path(lfw_dir, parts[0], int(parts[1])), image_path(lfw_dir, parts[2], int(parts[3]))
        else:
            raise ValueError(f"pairs.txt line {i + 2}: {line!r}")
        fold = i // (2 * per_fold)
        if folds is not None and fold >= folds:
            break
        rows.append((images.setdefault(a, len(images)), images.setdefault(b, len(images)), len(parts) == 3, fold))
    if folds is None and len(rows) != n_folds * 2 * per_fold:
        raise ValueError(f"pairs.txt has {len(rows)} pairs, header says {n_folds * 2 * per_fold}")
    columns = [np.array(col) for col in zip(*rows, strict=True)]
    return LfwPairs(list(images), columns[0], columns[1], columns[2].astype(bool), columns[3])


def people_outside_pairs(lfw_dir: Path) -> list[str]:
    """LFW people who appear in no pair of pairs.txt: safe for calibration and training."""
    used: set[str] = set()
    for line in (lfw_dir / "pairs.txt").read_text().split("\n")[1:]:
        parts = line.split()
        used.update(p for p in parts if not p.isdigit())
    everyone = sorted(p.name for p in (lfw_dir / "images_deepfunneled").iterdir() if p.is_dir())
    return [p for p in everyone if p not in used]


def calibration_images(lfw_dir: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` images of people outside pairs.txt, at most two per person, reproducibly chosen."""
    people = people_outside_pairs(lfw_dir)
    random.Random(seed).shuffle(people)
    chosen: list[Path] = []
    for person in people:
        chosen.extend(sorted((lfw_dir / "images_deepfunneled" / person).glob("*.jpg"))[:2])
        if len(chosen) >= count:
            break
    return chosen[:count]


def _fallback_landmarks(resolution_wh: tuple[int, int]) -> np.ndarray:
    """Landmarks of a centred face filling the middle 45% of the image: used when no face is found."""
    w, h = resolution_wh
    side = 0.45 * min(w, h)
    points = (ARCFACE_TEMPLATE_112 / 112.0 - 0.5) * side + np.array([w / 2, h / 2], np.float32)
    return points[None].astype(np.float32)


def aligned_crop(detector: MtcnnDetector, image_rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """The 112x112 crop of the face nearest the centre, and whether a face was found.

    A second, more permissive pass runs when the first finds nothing; if that fails too, a centred crop
    stands in and the caller counts the image as not found.
    """
    h, w = image_rgb.shape[:2]
    faces = detector.detect(image_rgb)
    if len(faces) == 0:
        loose = MtcnnDetector(
            detector.pnet,
            detector.rnet,
            detector.onet,
            DetectorConfig(min_face_px=20, thresholds=(0.5, 0.5, 0.5)),
            detector.cpu,
        )
        faces = loose.detect(image_rgb)
    if len(faces) == 0:
        return align_faces(image_rgb, _fallback_landmarks((w, h)))[0], False
    best: Faces = faces.select([faces.nearest_centre((w, h))])
    return align_faces(image_rgb, best.landmarks)[0], True


def crops_for_images(
    detector: MtcnnDetector, paths: list[Path], cache: Path | None = None, desc: str = "align"
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned RGB crops (N, 112, 112, 3) and found flags (N,) for image files, cached in an .npz if asked."""
    if cache is not None and cache.exists():
        data = np.load(cache)
        if len(data["found"]) == len(paths):
            return data["crops"], data["found"]
    crops = np.empty((len(paths), 112, 112, 3), np.uint8)
    found = np.zeros(len(paths), bool)
    for i, path in enumerate(tqdm(paths, desc=desc, unit="img")):
        rgb = cv2.cvtColor(load_image(path), cv2.COLOR_BGR2RGB)
        crops[i], found[i] = aligned_crop(detector, rgb)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, crops=crops, found=found)
    return crops, found


def cache_key(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]
