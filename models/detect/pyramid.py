"""MTCNN's image pyramid: the scales at which P-Net's 12 px window sees faces of a given size range.

One source for the detector (`models.detect.mtcnn`), its region search (`models.detect.regions`) and the TensorRT
profiles planned from the detector config (`models.engines.tensorrt.trt_profiles`).
"""

from __future__ import annotations

PNET_CELL_PX = 12  # P-Net's receptive field: the face size it sees at scale 1, the smallest input it accepts


def pyramid_scales(resolution_wh: tuple[int, int], min_face_px: int, scale_factor: float) -> list[float]:
    """Scales at which P-Net's 12 px window matches faces from min_face_px up to the image size."""
    scale = PNET_CELL_PX / min_face_px
    side = min(resolution_wh) * scale
    scales = []
    while side >= PNET_CELL_PX:
        scales.append(scale)
        scale *= scale_factor
        side *= scale_factor
    return scales
