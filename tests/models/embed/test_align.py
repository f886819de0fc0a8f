import cv2
import numpy as np
import pytest

from models.embed.align import ARCFACE_TEMPLATE_112, align_faces, similarity_transform


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(
    ("angle_deg", "scale", "shift"),
    [
        (0.0, 1.0, (0.0, 0.0)),  # identity
        (0.0, 2.5, (0.0, 0.0)),  # pure zoom
        (30.0, 1.0, (10.0, -4.0)),  # rotation and shift
        (-75.0, 0.4, (200.0, 120.0)),  # a small, strongly tilted face far from the origin
    ],
)
def test_similarity_transform_recovers_a_known_similarity(angle_deg: float, scale: float, shift: tuple) -> None:
    theta = np.deg2rad(angle_deg)
    rot = scale * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    src = ARCFACE_TEMPLATE_112.astype(np.float64)
    dst = src @ rot.T + np.array(shift)
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(_apply(matrix, src), dst, atol=1e-3)


def test_similarity_transform_never_reflects() -> None:
    src = ARCFACE_TEMPLATE_112
    mirrored = src * np.array([-1.0, 1.0], np.float32)
    matrix = similarity_transform(src, mirrored)
    assert np.linalg.det(matrix[:, :2]) > 0


def test_align_puts_landmarks_on_the_template() -> None:
    # Draw dots at landmark positions of a face rotated 20 degrees and placed at 3x scale in a big image.
    theta = np.deg2rad(20)
    rot = 3 * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    landmarks = ARCFACE_TEMPLATE_112 @ rot.T + np.array([300.0, 150.0])
    image = np.zeros((720, 1280, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (int(round(x)), int(round(y))), 6, (255, 255, 255), -1)
    crop = align_faces(image, landmarks[None].astype(np.float32))[0]
    assert crop.shape == (112, 112, 3)
    for x, y in ARCFACE_TEMPLATE_112:
        assert crop[int(round(y)), int(round(x))].max() > 200, (x, y)


def test_align_fills_a_given_buffer_and_handles_no_faces() -> None:
    image = np.full((200, 200, 3), 90, np.uint8)
    buffer = np.zeros((4, 112, 112, 3), np.uint8)
    out = align_faces(image, np.repeat(ARCFACE_TEMPLATE_112[None], 2, axis=0), out=buffer)
    assert out.shape == (2, 112, 112, 3)
    assert np.shares_memory(out, buffer) and buffer[:2].mean() > 80
    assert align_faces(image, np.zeros((0, 5, 2), np.float32)).shape == (0, 112, 112, 3)
