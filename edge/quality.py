"""Face quality from what the detector already gives: size, sharpness and pose from the 5 landmarks.

Quality decides which frames of a track are worth an embedding (the expensive stage) and which crop is the
track's best face. Each part lies in [0, 1]; the product punishes a face that is bad in any one way.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.faces import Faces

_BLUR_SIDE = 64  # faces are resized to this before measuring sharpness, so scores compare across sizes
_SHARP_REF = 120.0  # Laplacian variance of a sharp 64 px face; blurrier faces score proportionally less


def size_score(size_px: np.ndarray, min_face_px: float, good_face_px: float) -> np.ndarray:
    """(N,) face sizes in pixels -> (N,) 0 at or below min_face_px, 1 at good_face_px and above."""
    span = max(good_face_px - min_face_px, 1e-6)
    return np.clip((size_px - min_face_px) / span, 0.0, 1.0).astype(np.float32)


def pose_score(landmarks: np.ndarray) -> np.ndarray:
    """(N, 5, 2) landmarks -> (N,) 1 for a frontal face, falling to 0 with yaw, roll or pitch.

    yaw: the nose's horizontal offset from the eye midpoint, in eye distances (0 frontal, ~0.5 profile).
    roll: the angle of the eye line. pitch: where the nose sits between the eye line and the mouth line
    (halfway in the ArcFace template of a frontal face).
    """
    if len(landmarks) == 0:
        return np.zeros(0, np.float32)
    left_eye, right_eye, nose = landmarks[:, 0], landmarks[:, 1], landmarks[:, 2]
    mouth = (landmarks[:, 3] + landmarks[:, 4]) / 2
    eye_mid = (left_eye + right_eye) / 2
    eye_vec = right_eye - left_eye
    eye_dist = np.maximum(np.linalg.norm(eye_vec, axis=1), 1e-6)
    yaw = np.abs(nose[:, 0] - eye_mid[:, 0]) / eye_dist
    roll = np.abs(np.arctan2(eye_vec[:, 1], eye_vec[:, 0]))
    face_h = np.maximum(mouth[:, 1] - eye_mid[:, 1], 1e-6)
    pitch = np.abs((nose[:, 1] - eye_mid[:, 1]) / face_h - 0.5)
    score: np.ndarray = ((1 - np.clip(yaw / 0.5, 0, 1)) * (1 - np.clip(roll / 0.7, 0, 1))
                         * (1 - np.clip(pitch / 0.45, 0, 1))).astype(np.float32)
    return score


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


def face_quality(gray: np.ndarray, faces: Faces, min_face_px: float, good_face_px: float) -> np.ndarray:
    """(N,) overall quality in [0, 1] of the faces of one frame (product of size, sharpness, pose)."""
    if len(faces) == 0:
        return np.zeros(0, np.float32)
    quality: np.ndarray = (size_score(faces.size_px, min_face_px, good_face_px)
                           * sharpness_score(gray, faces.xyxy) * pose_score(faces.landmarks))
    return quality
