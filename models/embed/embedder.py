"""Face embeddings from aligned crops: batched, L2-normalised, preprocessing taken from the registry."""

from __future__ import annotations

import cv2
import numpy as np

from models.engines.backend import Backend, batch_limit
from models.registry import Preprocess


class Embedder:
    """Turns (N, S, S, 3) uint8 RGB aligned crops into (N, D) unit vectors."""

    def __init__(
        self,
        backend: Backend,
        preprocess: Preprocess,
        embedding_dim: int,
        max_batch: int = 32,
        flip_average: bool = False,
    ) -> None:
        """max_batch: crops per backend call, capped by the backend's own limit (a TensorRT profile's max).
        flip_average: also embed the mirrored crop and average (about +0.1 point on LFW, 2x the cost)."""
        self.backend = backend
        self.preprocess = preprocess
        self.dim = embedding_dim
        self.max_batch = batch_limit(backend, max_batch)
        self.flip_average = flip_average

    def embed(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB crops -> (N, D) unit embeddings."""
        unit, _ = self.embed_with_norms(crops_rgb)
        return unit

    def embed_with_norms(self, crops_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit embeddings (N, D) and the norms (N,) of the raw network outputs they were scaled from.

        ArcFace-family networks give recognisable faces larger raw features than blurred, tiny or badly
        aligned ones (the observation behind MagFace and AdaFace), so the norm is a quality cue that comes
        from the crop itself. Its scale differs between models: compare norms of one model only.
        """
        if crops_rgb.ndim != 4 or crops_rgb.shape[1:] != (self.preprocess.size, self.preprocess.size, 3):
            raise ValueError(
                f"embed expects (N, {self.preprocess.size}, {self.preprocess.size}, 3) crops, got {crops_rgb.shape}"
            )
        if len(crops_rgb) == 0:
            return np.zeros((0, self.dim), np.float32), np.zeros(0, np.float32)
        vectors = self._forward(crops_rgb)
        if self.flip_average:
            vectors = vectors + self._forward(crops_rgb[:, :, ::-1])
        norms = np.linalg.norm(vectors, axis=1)
        unit: np.ndarray = (vectors / np.maximum(norms, 1e-12)[:, None]).astype(np.float32)
        return unit, norms.astype(np.float32)

    def _forward(self, crops: np.ndarray) -> np.ndarray:
        """Raw network outputs (N, D); the input tensor is built per batch to keep memory flat."""
        parts = [
            self.backend.run(self._blob(crops[i : i + self.max_batch]))[0].reshape(-1, self.dim)
            for i in range(0, len(crops), self.max_batch)
        ]
        out = np.concatenate(parts)
        if out.shape != (len(crops), self.dim):
            raise RuntimeError(
                f"{self.backend.name} gave {out.shape} for {len(crops)} crops, registry says {self.dim}-d"
            )
        return out

    def _blob(self, crops: np.ndarray) -> np.ndarray:
        return embedder_blob(crops, self.preprocess)


def embedder_blob(crops_rgb: np.ndarray, preprocess: Preprocess) -> np.ndarray:
    """The input tensor for (N, S, S, 3) RGB crops: pixel = (x - mean) / std, channel order and layout
    as the registry says. Used for inference and for INT8 calibration alike."""
    p = preprocess
    blob = cv2.dnn.blobFromImages(list(crops_rgb), 1.0 / p.std, mean=(p.mean, p.mean, p.mean), swapRB=p.color == "BGR")
    return np.ascontiguousarray(blob.transpose(0, 2, 3, 1)) if p.layout == "NHWC" else blob
