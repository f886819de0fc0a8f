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


def pnet_output_hw(level_hw: tuple[int, int]) -> tuple[int, int]:
    """P-Net's output map size for a (h, w) input: 3x3 conv, 2x2 max pool (ceil mode), two 3x3 convs."""
    return (level_hw[0] - 1) // 2 - 4, (level_hw[1] - 1) // 2 - 4


def pnet_strips(level_hw: tuple[int, int], cells_per_strip: int) -> list[tuple[int, int]]:
    """P-Net's output rows over one level cut into strips of about `cells_per_strip` cells (0: one strip).

    Strip [a, b) is computed from input rows [2a, 2b + 10) (P-Net's stride is 2, its window 12 px), cut
    at the level's bottom; it gives exactly those rows of the whole level's map, since every window sees
    the same pixels, so the strips' maps stacked are the level's map.
    """
    rows, cols = pnet_output_hw(level_hw)
    step = rows if cells_per_strip <= 0 else max(1, cells_per_strip // max(cols, 1))
    return [(a, min(rows, a + step)) for a in range(0, rows, step)]


def strip_input_rows(strip: tuple[int, int]) -> slice:
    """The level rows strip [a, b) of `pnet_strips` is computed from."""
    return slice(2 * strip[0], 2 * strip[1] + PNET_CELL_PX - 2)
