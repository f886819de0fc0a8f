"""5-point similarity alignment of faces to the ArcFace 112x112 template."""

from __future__ import annotations

import cv2
import numpy as np

# Where eyes, nose tip and mouth corners sit in a 112x112 ArcFace crop (insightface's template; OpenCV's
# SFace alignCrop uses the same points).
ARCFACE_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float32,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src to dst (Umeyama 1991).

    Args:
        src, dst: (K, 2) point sets, K >= 2.
    Returns:
        (2, 3) float32 affine matrix M with dst ~= M @ [x, y, 1].
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1  # no reflections
    rot = u @ np.diag(d) @ vt
    var = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / var if var > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix.astype(np.float32)


def align_faces(image: np.ndarray, landmarks: np.ndarray, size: int = 112, out: np.ndarray | None = None) -> np.ndarray:
    """Warp each face to the template.

    Args:
        image: (H, W, 3) uint8, any channel order (kept).
        landmarks: (N, 5, 2) points in image pixels.
        size: output side; the template is scaled from 112.
        out: optional (>=N, size, size, 3) uint8 buffer to fill, to avoid an allocation per frame.
    Returns:
        (N, size, size, 3) uint8 crops.
    """
    n = len(landmarks)
    crops = out[:n] if out is not None else np.empty((n, size, size, 3), np.uint8)
    template = ARCFACE_TEMPLATE_112 * (size / 112.0)
    for i in range(n):
        matrix = similarity_transform(landmarks[i], template)
        cv2.warpAffine(
            image,
            matrix,
            (size, size),
            dst=crops[i],
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    return crops
