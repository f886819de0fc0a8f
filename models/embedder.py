"""Face embeddings from aligned crops: batched, L2-normalised, preprocessing taken from the registry."""

from __future__ import annotations

import cv2
import numpy as np

from models.backend import Backend
from models.registry import Preprocess


class Embedder:
    """Turns (N, S, S, 3) uint8 RGB aligned crops into (N, D) unit vectors."""

    def __init__(self, backend: Backend, preprocess: Preprocess, embedding_dim: int, max_batch: int = 32,
                 flip_average: bool = False) -> None:
        """flip_average: also embed the mirrored crop and average (about +0.1 point on LFW, 2x the cost)."""
        self.backend = backend
        self.preprocess = preprocess
        self.dim = embedding_dim
        self.max_batch = max_batch
        self.flip_average = flip_average

    def embed(self, crops_rgb: np.ndarray) -> np.ndarray:
        if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (self.preprocess.size, self.preprocess.size, 3):
            raise ValueError(f"embed expects (N, {self.preprocess.size}, {self.preprocess.size}, 3) crops, "
                             f"got {crops_rgb.shape}")
        if len(crops_rgb) == 0:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._forward(crops_rgb)
        if self.flip_average:
            vectors = vectors + self._forward(crops_rgb[:, :, ::-1])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        p = self.preprocess
        blob = cv2.dnn.blobFromImages(list(crops), 1.0 / p.std, mean=(p.mean, p.mean, p.mean),
                                      swapRB=p.color == "BGR")
        if p.layout == "NHWC":
            blob = np.ascontiguousarray(blob.transpose(0, 2, 3, 1))
        parts = [self.backend.run(blob[i:i + self.max_batch])[0] for i in range(0, len(blob), self.max_batch)]
        out = np.concatenate(parts).reshape(len(crops), -1)
        if out.shape[1] != self.dim:
            raise RuntimeError(f"{self.backend.name} gave {out.shape[1]}-d vectors, registry says {self.dim}")
        return out
