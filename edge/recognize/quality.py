"""Face quality from what the detector already gives: can a face be embedded at all, and how much is it worth.

Quality ranks faces, it does not veto them: it picks which face of a track to embed next and how much an
embedding counts in the track's pooled template. Only two things are hard floors, because below them the
embedder sees no face: a face smaller than the embedder's useful size, and landmarks a 5-point alignment
cannot use (collapsed onto one point, outside the face, mouth above the eyes). Pose from the landmarks is
deliberately not part of the weight: at three-quarter view and beyond, MTCNN's landmarks are least reliable
exactly where they would matter, while the embedding's own norm (see `edge.recognize.pooling`) tracks how
recognisable the aligned crop turned out.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.faces import Faces

_BLUR_SIDE = 64  # faces are resized to this before measuring sharpness, so scores compare across sizes
_SHARP_REF = 120.0  # Laplacian variance of a sharp 64 px face; blurrier faces score proportionally less
_MIN_SIZE_WEIGHT = 0.1  # the smallest embeddable face still counts, a tenth of a face at good_face_px
_MIN_SHARP_WEIGHT = 0.2  # a soft face still counts a fifth
_BOX_MARGIN = 0.25  # landmarks may lie this far (in box sides) outside the detector's box
_MIN_EYE_SPAN = 0.1  # eye distance / box width below which the landmarks have collapsed
_MIN_EYE_MOUTH = 0.15  # mouth below the eye line by at least this share of the box height


@dataclass(frozen=True)
class FaceQuality:
    """Quality of the N faces of one frame.

    Attributes:
        embeddable: (N,) bool, large enough and with landmarks an alignment can use.
        weight: (N,) float32 in [0, 1]: size x sharpness, each floored so that no embeddable face counts 0;
            0 where not embeddable.
    """

    embeddable: np.ndarray
    weight: np.ndarray


def size_score(size_px: np.ndarray, min_face_px: float, good_face_px: float) -> np.ndarray:
    """(N,) face sizes in pixels -> (N,) 0 at or below min_face_px, 1 at good_face_px and above."""
    span = max(good_face_px - min_face_px, 1e-6)
    return np.clip((size_px - min_face_px) / span, 0.0, 1.0).astype(np.float32)


def sharpness_score(gray: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(H, W) uint8 image and (N, 4) boxes -> (N,) Laplacian variance of each face / a sharp reference."""
    h, w = gray.shape
    out = np.zeros(len(xyxy), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.round(xyxy).astype(int)):
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 4 or y2 - y1 < 4:
            continue
        patch = cv2.resize(gray[y1:y2, x1:x2], (_BLUR_SIDE, _BLUR_SIDE), interpolation=cv2.INTER_AREA)
        out[i] = min(float(cv2.Laplacian(patch, cv2.CV_32F).var()) / _SHARP_REF, 1.0)
    return out


def alignable(xyxy: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(N, 4) boxes and (N, 5, 2) landmarks -> (N,) bool: geometry a 5-point alignment can use.

    Refused: a landmark far outside the box, eyes collapsed onto one point (eye distance under a tenth of
    the box width), or a mouth that is not below the eyes. Profile faces whose points crowd to one side
    stay alignable: they are embedded and weighed by how recognisable the crop is.
    """
    if len(xyxy) == 0:
        return np.zeros(0, bool)
    wh = np.maximum(xyxy[:, 2:] - xyxy[:, :2], 1e-6)  # (N, 2)
    rel = (landmarks - xyxy[:, None, :2]) / wh[:, None, :]  # (N, 5, 2) in box units
    inside = ((rel >= -_BOX_MARGIN) & (rel <= 1 + _BOX_MARGIN)).all(axis=(1, 2))
    eye_span = np.linalg.norm(landmarks[:, 1] - landmarks[:, 0], axis=1) / wh[:, 0]
    eye_y = (rel[:, 0, 1] + rel[:, 1, 1]) / 2
    mouth_y = (rel[:, 3, 1] + rel[:, 4, 1]) / 2
    ok: np.ndarray = inside & (eye_span >= _MIN_EYE_SPAN) & (mouth_y - eye_y >= _MIN_EYE_MOUTH)
    return ok


def assess(gray: np.ndarray, faces: Faces, min_face_px: float, good_face_px: float) -> FaceQuality:
    """Quality of the faces of one (H, W) uint8 gray frame; see `FaceQuality`."""
    if len(faces) == 0:
        return FaceQuality(np.zeros(0, bool), np.zeros(0, np.float32))
    size_px = faces.size_px
    embeddable = (size_px >= min_face_px) & alignable(faces.xyxy, faces.landmarks)
    size = np.maximum(size_score(size_px, min_face_px, good_face_px), _MIN_SIZE_WEIGHT)
    sharp = np.maximum(sharpness_score(gray, faces.xyxy), _MIN_SHARP_WEIGHT)
    weight = np.where(embeddable, size * sharp, 0.0).astype(np.float32)
    return FaceQuality(embeddable, weight)
