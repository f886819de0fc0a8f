"""facenet-pytorch's own MTCNN (PyTorch), as the reference our detector is measured against.

Loaded from the same wheel the weights come from (extracted into the cache). torchvision's compiled
ops do not load beside the CPU torch wheel we use, and facenet-pytorch needs only `batched_nms` from it
for detection, so a small stand-in module provides torchvision's batched NMS semantics (IoU without the
+1 convention, drop boxes with IoU > threshold) on top of torch. Benchmark-only: nothing at run time
imports this.
"""

from __future__ import annotations

import sys
import types
import zipfile
from typing import Any

import numpy as np

from models.prepare.fetch import fetch_wheel
from models.registry import default_cache_dir, load_registry


def _torchvision_stand_in() -> None:
    if "torchvision" in sys.modules:
        return
    import torch

    def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
        order = torch.argsort(scores, descending=True)
        x1, y1, x2, y2 = boxes.unbind(1)
        area = (x2 - x1) * (y2 - y1)
        keep = []
        while order.numel():
            i = order[0]
            keep.append(i)
            rest = order[1:]
            w = (torch.minimum(x2[i], x2[rest]) - torch.maximum(x1[i], x1[rest])).clamp(min=0)
            h = (torch.minimum(y2[i], y2[rest]) - torch.maximum(y1[i], y1[rest])).clamp(min=0)
            inter = w * h
            order = rest[inter / (area[i] + area[rest] - inter) <= iou_threshold]
        return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)

    def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou: float) -> torch.Tensor:
        if boxes.numel() == 0:
            return torch.empty((0,), dtype=torch.int64)
        offsets = idxs.to(boxes) * (boxes.max() + 1)
        return nms(boxes + offsets[:, None], scores, iou)

    def to_tensor(pic: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(pic, np.float32)).permute(2, 0, 1) / 255.0

    tv = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")
    boxes_mod = types.ModuleType("torchvision.ops.boxes")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    boxes_mod.batched_nms = batched_nms  # type: ignore[attr-defined]
    functional.to_tensor = to_tensor  # type: ignore[attr-defined]
    ops.boxes = boxes_mod  # type: ignore[attr-defined]
    transforms.functional = functional  # type: ignore[attr-defined]
    tv.ops, tv.transforms = ops, transforms  # type: ignore[attr-defined]
    sys.modules.update(
        {
            "torchvision": tv,
            "torchvision.ops": ops,
            "torchvision.ops.boxes": boxes_mod,
            "torchvision.transforms": transforms,
            "torchvision.transforms.functional": functional,
        }
    )


def facenet_mtcnn(min_face_px: int = 20) -> Any:
    """facenet_pytorch.MTCNN(keep_all=True) on the CPU, from the registry's wheel."""
    registry = load_registry()
    src = registry.sources["facenet-pytorch"]
    target = default_cache_dir() / "reference" / f"facenet_pytorch-{src.version}"
    if not (target / "facenet_pytorch").exists():
        wheel = fetch_wheel(registry, "facenet-pytorch", default_cache_dir() / "wheels", offline=False)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(target)
    _torchvision_stand_in()
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, min_face_size=min_face_px, device="cpu")
