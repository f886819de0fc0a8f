"""MTCNN face detection (P-Net -> R-Net -> O-Net) on any `Backend`.

Follows the cascade of Zhang et al. as implemented by facenet-pytorch (same weights, same pyramid and
thresholds), with R-Net and O-Net each run once over all candidates of the frame in batches.

P-Net runs per pyramid level (or strip of one, below). Packing all levels into one image (one run, the Jetson trick) was
measured on the 2-core AVX-512 CPU and lost: 0.63-0.85x of the per-level runs at 640x360 to 1920x1080
(the packed image is 1.17x the levels' area, and onnxruntime's per-run cost is small next to the convs).

On onnxruntime's CPU provider (`DetectorConfig.cpu`, `models.detect.lanes` for the figures) the cascade
runs on `lanes` threads calling single-thread sessions (onnxruntime's `run` is thread-safe and a
single-thread run works in its caller's thread): P-Net on strips of the levels that fit the cache,
shared out by size, and R-Net's and O-Net's candidates split in order, each lane cropping and running its
own 16 at a time. Each strip and each candidate is computed as it would be alone, and put back in order,
so the faces are the same to the bit as one thread running whole levels (the GPU path).

`detect_in_regions` skips most of P-Net's work: it runs only on the parts of the pyramid levels that cover
squares around given boxes, at the few levels matching the faces expected there (`models.detect.regions`), then
the same R-Net and O-Net.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.detect.boxes import clip_int, nms, regress, square
from models.detect.lanes import CpuExecution, Item, Lanes, Result, balanced_groups
from models.detect.pyramid import PNET_CELL_PX, pnet_strips, pyramid_scales, strip_input_rows
from models.detect.regions import best_per_square, level_window, region_squares
from models.engines.backend import Backend, batch_limit
from models.faces import Faces

_MEAN = (127.5, 127.5, 127.5)
_SCALE = 1.0 / 128.0


class DetectorConfig(BaseModel):
    """MTCNN settings.

    min_face_px: smallest face searched for and reported (full and region searches alike); smaller values
        add pyramid levels (slower, more small faces).
    thresholds: P-Net, R-Net, O-Net face probability needed to pass each stage; higher means fewer false
        faces and more missed ones.
    scale_factor: pyramid step; closer to 1 finds more faces at more cost.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_face_px: int = Field(20, ge=8, le=4096)
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    scale_factor: float = Field(0.709, gt=0.3, lt=0.95)
    max_batch: int = Field(
        256,
        ge=1,
        le=4096,
        description="R-Net/O-Net crops per inference call (at most the "
        "backend's own limit, e.g. a TensorRT profile's max batch)",
    )
    region_face_fraction: tuple[float, float] = Field(
        (0.25, 0.9), description="detect_in_regions: face sizes searched, as fractions of a region's side"
    )
    region_max_candidates: int = Field(
        10, ge=1, le=64, description="detect_in_regions: R-Net's best candidates per region that O-Net sees"
    )
    cpu: CpuExecution = CpuExecution()

    @field_validator("region_face_fraction")
    @classmethod
    def _fractions(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0.05 <= value[0] <= value[1] <= 1.0:
            raise ValueError("region_face_fraction must be (low, high) with 0.05 <= low <= high <= 1")
        return value

    @field_validator("thresholds")
    @classmethod
    def _probabilities(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0.0 < t < 1.0 for t in value):
            raise ValueError("each threshold must lie strictly between 0 and 1")
        return value


class MtcnnDetector:
    """Detect faces and their 5 landmarks in RGB uint8 images."""

    def __init__(
        self,
        pnet: Backend,
        rnet: Backend,
        onet: Backend,
        config: DetectorConfig | None = None,
        cpu: CpuExecution | None = None,
    ):
        """cpu: how to run on onnxruntime's CPU provider (the pipeline passes `config.cpu` there; the backends
        must allow concurrent runs, as onnxruntime's sessions do). None, for GPU engines, which want whole
        levels, big batches and one caller: everything in the caller's thread, batches of `max_batch`."""
        self.pnet, self.rnet, self.onet = pnet, rnet, onet
        self.config = config or DetectorConfig()
        self.cpu = cpu
        self.lanes = Lanes(cpu.lanes if cpu else 1)
        self.strip_cells = cpu.pnet_strip_cells if cpu else 0
        self.batch = cpu.crop_batch if cpu else self.config.max_batch

    def detect(self, image_rgb: np.ndarray) -> Faces:
        """(H, W, 3) uint8 RGB -> Faces. Images too small for the smallest window give no faces."""
        _check_image(image_rgb)
        return self._cascade(image_rgb, *self._proposals(image_rgb))

    def detect_in_regions(self, image_rgb: np.ndarray, regions_xyxy: np.ndarray) -> Faces:
        """Faces inside the given regions only, without the full-frame pyramid.

        Args:
            image_rgb: (H, W, 3) uint8 RGB frame.
            regions_xyxy: (R, 4) boxes in frame pixels, e.g. live tracks' predicted face boxes enlarged by a
                margin (2x their side suits `region_face_fraction` (0.25, 0.9)). Each is searched as the
                square around its centre; overlapping regions give each face once.
        Returns:
            Faces as `detect` finds them (same R-Net/O-Net, thresholds and NMS), in frame pixels. A face
            crossing a region's edge may come back with its box reaching outside the region.
        """
        _check_image(image_rgb)
        squares = region_squares(regions_xyxy, (image_rgb.shape[1], image_rgb.shape[0]))
        if len(squares) == 0:
            return Faces.empty()
        return self._cascade(image_rgb, *self._region_proposals(image_rgb, squares), squares=squares)

    def _cascade(
        self,
        image: np.ndarray,
        xyxy: np.ndarray,
        score: np.ndarray,
        offset: np.ndarray,
        squares: np.ndarray | None = None,
    ) -> Faces:
        """P-Net candidates (after per-level NMS) -> NMS across levels -> R-Net -> O-Net. With `squares`
        (regions), O-Net sees only the best `region_max_candidates` of each: one face per region is the
        rule, and the near-duplicates R-Net leaves around it cost O-Net 8x R-Net's MACs each."""
        if len(xyxy) == 0:
            return Faces.empty()
        keep = nms(xyxy, score, 0.7)
        boxes = square(regress(xyxy[keep], offset[keep], inclusive=False))
        boxes = self._refine(image, boxes)
        if squares is not None:
            boxes = boxes[best_per_square(boxes, squares, self.config.region_max_candidates)]
        if len(boxes) == 0:
            return Faces.empty()
        return self._output(image, boxes)

    def _levels(self, image: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
        """The pyramid, largest level first: (scale, (h, w, 3) level image)."""
        h, w = image.shape[:2]
        resized = image
        for scale in pyramid_scales((w, h), self.config.min_face_px, self.config.scale_factor):
            # Each level is made from the previous one: every step shrinks by less than 2x, so bilinear
            # does not alias, and it costs a fraction of INTER_AREA from full resolution (3 ms vs 70 ms at 720p).
            resized = cv2.resize(resized, (int(w * scale + 1), int(h * scale + 1)), interpolation=cv2.INTER_LINEAR)
            yield scale, resized

    def _proposals(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 1: P-Net over the pyramid, NMS per level. (N, 4) boxes, (N,) scores, (N, 4) offsets."""
        levels = list(self._levels(image))
        strips = [
            (i, rows) for i, (_, level) in enumerate(levels) for rows in pnet_strips(level.shape[:2], self.strip_cells)
        ]
        maps = self._pnet_strip_maps([levels[i][1] for i in range(len(levels))], strips)
        found = []
        for i, (scale, _) in enumerate(levels):
            parts = [m for (level_index, _), m in zip(strips, maps, strict=True) if level_index == i]
            reg, prob = (np.concatenate(outs, axis=2) for outs in zip(*parts, strict=True))
            found.append(_level_nms(*self._cells(reg, prob, scale, (0, 0))))
        return _concat(found)

    def _pnet_strip_maps(
        self, levels: list[np.ndarray], strips: list[tuple[int, tuple[int, int]]]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """P-Net's (reg, prob) maps of each (level index, output rows) strip, in order; the strips are
        shared among the lanes by their input pixels."""

        def run(strip: tuple[int, tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
            level = levels[strip[0]]
            return self._pnet_maps(level[strip_input_rows(strip[1])])

        return self._on_lanes(run, strips, [(rows[1] - rows[0]) * levels[i].shape[1] for i, rows in strips])

    def _on_lanes(self, work: Callable[[Item], Result], items: Sequence[Item], costs: Sequence[float]) -> list[Result]:
        """[work(item) for item in items], the items shared among the lanes by cost; results in order."""
        groups = balanced_groups(costs, self.lanes.count)
        results = self.lanes.map(lambda group: [work(items[j]) for j in group], groups)
        by_index = dict(zip((j for group in groups for j in group), (r for part in results for r in part), strict=True))
        return [by_index[j] for j in range(len(items))]

    def _region_proposals(self, image: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stage 1 in regions: P-Net on the part of each pyramid level that covers a square, at the levels
        whose 12 px window matches faces of `region_face_fraction` of that square's side. The windows
        inside a cut-out see the same pixels as in the whole level, so the candidates are the full
        detection's candidates there. The cut-outs are shared among the lanes by their pixels."""
        sides = (squares[:, 2] - squares[:, 0]).astype(np.float32)
        low, high = self.config.region_face_fraction
        windows: list[tuple[float, np.ndarray, tuple[int, int]]] = []  # (scale, level cut-out, cell origin)
        for scale, level in self._levels(image):
            face_px = PNET_CELL_PX / scale
            if face_px > high * sides.max():
                break  # every later level looks for even bigger faces
            for index in np.nonzero((face_px >= low * sides) & (face_px <= high * sides))[0]:
                x0, y0, x1, y1 = level_window(squares[index], scale, level.shape[:2])
                if min(x1 - x0, y1 - y0) >= PNET_CELL_PX:
                    windows.append((scale, level[y0:y1, x0:x1], (x0 // 2, y0 // 2)))
        maps = self._on_lanes(
            lambda window: self._pnet_maps(window[1]), windows, [w[1].shape[0] * w[1].shape[1] for w in windows]
        )
        return _concat(
            [
                _level_nms(*self._cells(reg, prob, scale, origin))
                for (scale, _, origin), (reg, prob) in zip(windows, maps, strict=True)
            ]
        )

    def _pnet_maps(self, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P-Net on (a part of) one level (h, w, 3) uint8: box offsets (1, 4, h', w'), face prob (1, 2, h', w')."""
        reg, prob = self.pnet.run(cv2.dnn.blobFromImage(level, _SCALE, mean=_MEAN, swapRB=False))
        return reg, prob

    def _cells(
        self, reg: np.ndarray, prob: np.ndarray, scale: float, cell_origin_xy: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P-Net's maps of (a part of) one level -> frame boxes (N, 4), scores (N,), offsets (N, 4) of the
        cells over threshold. cell_origin_xy: the part's top-left cell in the whole level (its pixel origin / 2)."""
        index, ys, xs = np.nonzero(prob[:, 1] >= self.config.thresholds[0])
        cells = np.stack([xs + cell_origin_xy[0], ys + cell_origin_xy[1]], axis=1).astype(np.float32)
        xyxy = np.concatenate([np.floor((2 * cells + 1) / scale), np.floor((2 * cells + PNET_CELL_PX) / scale)], 1)
        return xyxy, prob[index, 1, ys, xs], reg[index, :, ys, xs]

    def _refine(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Stage 2: R-Net on all proposals at once; keep, NMS, regress, square. (N, 4) -> (M, 4)."""
        boxes, (reg, prob) = self._crop_and_run(self.rnet, image, boxes, 24)
        passed = prob[:, 1] > self.config.thresholds[1]
        boxes, score, reg = boxes[passed], prob[passed, 1], reg[passed]
        keep = nms(boxes, score, 0.7)
        squares: np.ndarray = square(regress(boxes[keep], reg[keep]))
        return squares

    def _output(self, image: np.ndarray, boxes: np.ndarray) -> Faces:
        """Stage 3: O-Net gives the final score, box and 5 landmarks. Faces whose final box is smaller than
        `min_face_px` (its shorter side) are dropped: the pyramid starts at that size, but R-Net's and O-Net's
        box regression can shrink a candidate well below it (17 px faces at `min_face_px` 40)."""
        boxes, (reg, points, prob) = self._crop_and_run(self.onet, image, boxes, 48)
        passed = prob[:, 1] > self.config.thresholds[2]
        boxes, score, reg, points = boxes[passed], prob[passed, 1], reg[passed], points[passed]
        wh = boxes[:, 2:4] - boxes[:, 0:2] + 1
        xs = wh[:, :1] * points[:, :5] + boxes[:, :1] - 1
        ys = wh[:, 1:] * points[:, 5:] + boxes[:, 1:2] - 1
        landmarks = np.stack([xs, ys], axis=2)
        boxes = regress(boxes, reg)
        keep = nms(boxes, score, 0.7, method="min")
        sides = np.minimum(boxes[keep, 2] - boxes[keep, 0], boxes[keep, 3] - boxes[keep, 1])
        keep = keep[sides >= self.config.min_face_px]
        return Faces(boxes[keep].astype(np.float32), score[keep].astype(np.float32), landmarks[keep].astype(np.float32))

    def _crop_and_run(
        self, net: Backend, image: np.ndarray, boxes: np.ndarray, size: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """R-Net or O-Net on size x size crops of the boxes, the boxes split among the lanes in order and
        each lane's cropped and run in batches. Returns the boxes that had pixels in the image (M, 4) and
        the net's outputs for them (M, ...)."""
        step = batch_limit(net, self.batch)  # a TensorRT engine refuses more than its profile

        def crop_and_run(part: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
            blob, valid = self._crops(image, part, size)
            return part[valid], self._run(net, blob)

        def lane(chunk: np.ndarray) -> list[tuple[np.ndarray, list[np.ndarray]]]:
            return [crop_and_run(chunk[i : i + step]) for i in range(0, len(chunk), step)] or [crop_and_run(chunk)]

        parts = [part for lane_parts in self.lanes.map(lane, self.lanes.chunks(boxes)) for part in lane_parts]
        kept = np.concatenate([part for part, _ in parts])
        return kept, [np.concatenate(outs) for outs in zip(*(out for _, out in parts), strict=True)]

    @staticmethod
    def _crops(image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Cut each box (clipped to the image) and resize to size x size: NCHW blob and the valid mask."""
        h, w = image.shape[:2]
        slices = clip_int(boxes, (w, h))
        valid = (slices[:, 2] > slices[:, 0]) & (slices[:, 3] > slices[:, 1])
        crops = [
            cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)
            for x0, y0, x1, y1 in slices[valid]
        ]
        if not crops:
            return np.zeros((0, 3, size, size), np.float32), valid
        return cv2.dnn.blobFromImages(crops, _SCALE, mean=_MEAN, swapRB=False), valid

    def _run(self, net: Backend, blob: np.ndarray) -> list[np.ndarray]:
        if len(blob) == 0:
            dims = {id(self.rnet): (4, 2), id(self.onet): (4, 10, 2)}[id(net)]
            return [np.zeros((0, d), np.float32) for d in dims]
        return net.run(blob)


def _check_image(image_rgb: np.ndarray) -> None:
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"detect expects (H, W, 3) uint8 RGB, got {image_rgb.shape} {image_rgb.dtype}")


def _level_nms(xyxy: np.ndarray, score: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NMS at 0.5 among one level's (or one region's) P-Net cells."""
    keep = nms(xyxy, score, 0.5)
    return xyxy[keep], score[keep], offset[keep]


def _concat(found: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not found:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 4), np.float32)
    xyxy, score, offset = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return xyxy, score, offset
