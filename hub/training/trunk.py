"""Features of the frozen trunk, computed once per crop (and per augmented copy) and cached.

Fine-tuning on a few dozen people only needs the last layers to move, and a frozen trunk does not have to
run again for every step: its features of each training crop (plain and `augmented_copies` augmented
versions) are computed once, and training steps run only the small tail. On a CPU that is the difference
between seconds and minutes per step. onnxruntime runs the trunk on CPU (several times faster than torch
there); on CUDA the torch module does.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from hub.training.augment import augment_batch
from hub.training.config import AugmentConfig
from hub.training.dataset import to_pixels
from hub.training.progress import TrainingCancelled
from models.prepare.onnx_to_torch import OnnxEmbedder, extract_trunk


class TrunkFeatures:
    """crops (N, S, S, 3) uint8 -> trunk features (N, C, h, w) float16 on `device`."""

    def __init__(
        self, backbone: OnnxEmbedder, onnx_path: Path, tensor: str, device: torch.device, batch: int = 32
    ) -> None:
        self.backbone, self.tensor, self.device, self.batch = backbone, tensor, device, batch
        self.session: ort.InferenceSession | None = None
        if device.type == "cpu":
            with tempfile.TemporaryDirectory() as tmp:
                trunk = extract_trunk(onnx_path, Path(tmp) / "trunk.onnx", tensor)
                self.session = ort.InferenceSession(str(trunk), providers=["CPUExecutionProvider"])

    def _run(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.session is None:
            return self.backbone.forward_until(pixels.to(self.device), self.tensor).half()
        out = self.session.run(None, {self.backbone.input_name: pixels.cpu().numpy()})[0]
        return torch.from_numpy(out).half()

    def features(
        self,
        crops_rgb: np.ndarray,
        augment: AugmentConfig | None = None,
        generator: torch.Generator | None = None,
        cancel: threading.Event | None = None,
    ) -> torch.Tensor:
        parts = []
        for i in range(0, len(crops_rgb), self.batch):
            if cancel is not None and cancel.is_set():
                raise TrainingCancelled("cancelled while caching trunk features")
            pixels = to_pixels(crops_rgb[i : i + self.batch], torch.device("cpu"))
            if augment is not None and generator is not None:
                pixels = augment_batch(pixels, augment, generator)
            parts.append(self._run(pixels))
        return torch.cat(parts).to(self.device)
