"""The record that crosses the detect -> align -> embed borders: faces in one frame."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Faces:
    """Faces found in one image, in that image's pixel coordinates.

    Attributes:
        xyxy: (N, 4) float32 boxes, x1 y1 x2 y2.
        scores: (N,) float32 O-Net face probability.
        landmarks: (N, 5, 2) float32 points: left eye, right eye, nose, left mouth, right mouth (x, y),
            left/right as seen in the image.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.scores.shape != (n,) or self.landmarks.shape != (n, 5, 2):
            raise ValueError(
                f"Faces: inconsistent shapes xyxy={self.xyxy.shape} scores={self.scores.shape} "
                f"landmarks={self.landmarks.shape}"
            )

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, index: np.ndarray | list[int]) -> Faces:
        """A subset by integer index or boolean mask."""
        return Faces(self.xyxy[index], self.scores[index], self.landmarks[index])

    @property
    def size_px(self) -> np.ndarray:
        """(N,) face size in pixels: the shorter side of each box."""
        wh = self.xyxy[:, 2:] - self.xyxy[:, :2]
        size: np.ndarray = np.minimum(wh[:, 0], wh[:, 1])
        return size

    def nearest_centre(self, resolution_wh: tuple[int, int]) -> int:
        """Index of the face whose box centre is nearest the image centre (-1 when there is none)."""
        if len(self) == 0:
            return -1
        centre = np.array(resolution_wh, np.float32) / 2
        box_centres = (self.xyxy[:, :2] + self.xyxy[:, 2:]) / 2
        return int(np.argmin(((box_centres - centre) ** 2).sum(axis=1)))
