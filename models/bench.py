"""`facefleet bench`: detector and embedder speed on this machine, FP32 vs INT8, and against facenet-pytorch.

All numbers come from one run on the same frames: median milliseconds over `repeats` passes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from models.backend import OnnxRuntimeConfig
from models.boxes import iou_matrix
from models.pipeline import FacePipeline, PipelineConfig


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: session allocations, first-shape planning
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_frames(data_dir: Path, count: int = 8) -> dict[str, list[np.ndarray]]:
    """RGB frames: `count` frames spread over the bundled clip at 640x360, and the same at 1280x720
    (plus the real 720p photo)."""
    capture = cv2.VideoCapture(str(data_dir / "clips" / "short_hamilton_clip.mp4"))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    small = []
    for index in np.linspace(0, total - 1, count).astype(int):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        ok, frame = capture.read()
        if ok:
            small.append(cv2.cvtColor(cv2.resize(frame, (640, 360)), cv2.COLOR_BGR2RGB))
    capture.release()
    if not small:
        raise RuntimeError("could not read frames from the bundled clip")
    large = [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_CUBIC) for f in small]
    photo = cv2.imread(str(data_dir / "clips" / "obama-720p.jpg"))
    if photo is not None:
        large.append(cv2.cvtColor(cv2.resize(photo, (1280, 720)), cv2.COLOR_BGR2RGB))
    return {"640x360": small, "1280x720": large}


def _detect_all(detect: Callable[[np.ndarray], np.ndarray], images: list[np.ndarray]) -> list[np.ndarray]:
    return [detect(image) for image in images]


def _as_xyxy(boxes: object) -> np.ndarray:
    """facenet-pytorch gives None for no face, else an (N, 4) array (object dtype in batches)."""
    return np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)


def _agreement(ours: list[np.ndarray], theirs: list[np.ndarray]) -> tuple[int, int, int]:
    """(faces we found, faces they found, faces found by both at IoU >= 0.5)."""
    matched = 0
    for a, b in zip(ours, theirs, strict=True):
        iou = iou_matrix(a, b)
        while iou.size and iou.max() >= 0.5:
            i, j = np.unravel_index(iou.argmax(), iou.shape)
            matched += 1
            iou[i, :] = 0
            iou[:, j] = 0
    return sum(map(len, ours)), sum(map(len, theirs)), matched


def run_bench(data_dir: Path, model_dir: Path | None = None, repeats: int = 20, compare_facenet: bool = True) -> None:
    frames = bench_frames(data_dir)
    pipelines = {
        p: FacePipeline.from_config(PipelineConfig(model_dir=model_dir, backend=OnnxRuntimeConfig(precision=p)))
        for p in ("fp32", "int8")
    }
    reference = None
    if compare_facenet:
        import torch

        from models.facenet_reference import facenet_mtcnn

        torch.set_grad_enabled(False)
        reference = facenet_mtcnn(pipelines["fp32"].detector.config.min_face_px)
    print(f"Detector, median ms per frame over {repeats} passes ({len(frames['640x360'])} frames at 640x360, "
          f"{len(frames['1280x720'])} at 1280x720):")
    print(f"  {'':34s}{'640x360':>10s}{'1280x720':>10s}")
    results: dict[str, dict[str, float]] = {}
    found: dict[str, dict[str, list[np.ndarray]]] = {}
    detectors: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
        ("facefleet MTCNN fp32 (onnxruntime)", lambda f: pipelines["fp32"].detector.detect(f).xyxy),
        ("facefleet MTCNN int8 (onnxruntime)", lambda f: pipelines["int8"].detector.detect(f).xyxy),
    ]
    if reference is not None:
        detectors.append(("facenet-pytorch MTCNN (torch)", lambda f: _as_xyxy(reference.detect(f)[0])))
    for label, detect in detectors:
        results[label], found[label] = {}, {}
        for size, images in frames.items():
            results[label][size] = _median_ms(partial(_detect_all, detect, images), repeats) / len(images)
            found[label][size] = [detect(f) for f in images]
        print(f"  {label:34s}" + "".join(f"{results[label][s]:10.1f}" for s in frames))
    if reference:
        ours, theirs = "facefleet MTCNN fp32 (onnxruntime)", "facenet-pytorch MTCNN (torch)"
        print(f"  {'speed-up vs facenet-pytorch (fp32)':34s}"
              + "".join(f"{results[theirs][s] / results[ours][s]:9.2f}x" for s in frames))
        for size in frames:
            n_ours, n_theirs, both = _agreement(found[ours][size], found[theirs][size])
            print(f"  faces at {size}: facefleet {n_ours}, facenet-pytorch {n_theirs}, found by both {both}")
    print("Embedder, ms per face (median):")
    crops = np.stack([cv2.resize(f[100:260, 240:400], (112, 112)) for f in frames["640x360"]])
    for precision, pipeline in pipelines.items():
        row = []
        for batch_size in (1, 16):
            sample = np.resize(crops, (batch_size, 112, 112, 3))
            row.append(_median_ms(partial(pipeline.embedder.embed, sample), repeats) / batch_size)
        print(f"  {pipeline.model_id} {precision}: batch 1 {row[0]:.2f} ms/face, batch 16 {row[1]:.2f} ms/face")
