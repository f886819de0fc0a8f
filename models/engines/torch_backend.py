"""PyTorch behind the `Backend` interface: the embedder on a GPU hub (or its CPU), through the same ONNX file.

The ONNX embedder becomes a torch module with `models.prepare.onnx_to_torch`, the converter retraining uses, so
enrollment embeddings on the GPU come from the very graph the edge runs; a graph it cannot convert (MTCNN's
multi-output nets, Q/DQ INT8 copies) is refused by name. torch is imported here only, when this backend is
chosen. One lock per instance: a module in eval mode is safe to share, but interleaved host/device copies of
two threads would only compete for the same stream.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from models.engines.backend import TorchConfig

log = logging.getLogger(__name__)


def torch_device(config: TorchConfig) -> Any:
    """The torch device the config names; a clear error when CUDA is asked for and torch sees none."""
    import torch

    if config.device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                "backend torch with device cuda: torch sees no CUDA device (a CPU-only torch "
                "build, or no GPU); use device: cpu or the onnxruntime backend"
            )
        return torch.device("cuda", config.device_index)
    return torch.device("cpu")


class TorchBackend:
    """Runs one single-input, single-output ONNX graph as a torch module on CUDA or the CPU."""

    max_batch = None  # no profile: any batch that fits in device memory

    def __init__(self, path: Path, config: TorchConfig) -> None:
        import torch

        from models.prepare.onnx_to_torch import load_onnx_embedder

        self.device = torch_device(config)
        self.dtype = torch.float16 if config.precision == "fp16" else torch.float32
        self.module = load_onnx_embedder(path).eval().to(self.device, self.dtype)
        self.name = f"{path.name}[torch {self.device} {config.precision}]"
        self._lock = threading.Lock()
        log.info("torch %s ready", self.name)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """(N, C, H, W) float32 -> [(N, D) float32]: one host-to-device copy in, one copy back."""
        import torch

        host = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        with self._lock, torch.inference_mode():
            out = self.module(host.to(self.device, self.dtype))
            return [out.float().cpu().numpy()]
