"""`facefleet bench models`: detector and embedder speed on this machine, FP32 vs INT8, and against facenet-pytorch.

On a machine shared with other work, times measured one after the other drift by 2x and more; so every
comparison is interleaved: A on a frame, then B on the same frame, and so on, and a speed-up is the
median of those pair ratios. Milliseconds are medians too, for orientation only.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from models.detect.mtcnn import MtcnnDetector
from models.engines.backend import Backend
from models.engines.ort_providers import OnnxRuntimeConfig
from models.eval.bench_schedule import matched_faces
from models.eval.macs import graph_macs
from models.pipeline import FacePipeline, PipelineConfig

SIZES = ("640x360", "1280x720")
FP32_MACS_PER_CYCLE = 16  # per core: two 256-bit FMA pipes (AMD Zen 4 runs AVX-512 on them); VNNI INT8 = 4x


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


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(
    runners: Mapping[str, Callable[[np.ndarray], object]], inputs: list[np.ndarray], repeats: int
) -> dict[str, list[float]]:
    """Seconds of each runner on each input, the runners taking turns on the same input (after one warm-up
    each): lists aligned across runners, `repeats` x len(inputs) long."""
    for run in runners.values():
        run(inputs[0])
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for x in inputs:
            for name, run in runners.items():
                times[name].append(_seconds(partial(run, x)))
    return times


def speedup(slow: list[float], fast: list[float]) -> float:
    """Median of the pair ratios slow / fast: how many times faster `fast` is."""
    return statistics.median(s / f for s, f in zip(slow, fast, strict=True))


def mean_ms(times: list[float]) -> float:
    return 1000 * sum(times) / len(times)


def _as_xyxy(boxes: object) -> np.ndarray:
    """facenet-pytorch gives None for no face, else an (N, 4) array (object dtype in batches)."""
    return np.zeros((0, 4), np.float32) if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)


class ShapeRecorder:
    """Wraps a backend and notes the input shape of every run (for counting MACs)."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.name = inner, inner.name
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.shapes.append(tuple(batch.shape))
        return self.inner.run(batch)


def detector_gmacs(pipeline: FacePipeline, frames: list[np.ndarray]) -> dict[str, float]:
    """GMAC per frame of each MTCNN net, from its ONNX graph at the shapes it actually ran on."""
    det = pipeline.detector
    nets = {"pnet": det.pnet, "rnet": det.rnet, "onet": det.onet}
    recorders = {role: ShapeRecorder(net) for role, net in nets.items()}
    det.pnet, det.rnet, det.onet = recorders["pnet"], recorders["rnet"], recorders["onet"]
    try:
        for frame in frames:
            det.detect(frame)
    finally:
        det.pnet, det.rnet, det.onet = nets["pnet"], nets["rnet"], nets["onet"]
    paths = pipeline.model_paths
    return {
        role: sum(graph_macs(paths[f"mtcnn-{role}"], s) for s in rec.shapes) / len(frames) / 1e9
        for role, rec in recorders.items()
    }


def peak_gmacs() -> float:
    """This CPU's FP32 peak, GMAC/s: cores x clock (from /proc/cpuinfo) x FP32_MACS_PER_CYCLE."""
    mhz = 2500.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = float(line.split(":")[1])
                break
    except OSError:
        pass
    return (os.cpu_count() or 1) * mhz / 1000 * FP32_MACS_PER_CYCLE


@dataclass
class BenchReport:
    """The figures `--json` writes (keys as the issue names them) and the detail behind them."""

    figures: dict[str, float] = field(default_factory=dict)
    faces: dict[str, dict[str, int]] = field(default_factory=dict)


def _boxes_of(detector: MtcnnDetector) -> Callable[[np.ndarray], np.ndarray]:
    def boxes(image_rgb: np.ndarray) -> np.ndarray:
        return detector.detect(image_rgb).xyxy

    return boxes


def bench_detectors(
    pipelines: dict[str, FacePipeline],
    reference: Callable[[np.ndarray], np.ndarray] | None,
    frames: dict[str, list[np.ndarray]],
    repeats: int,
    report: BenchReport,
) -> None:
    runners = {p: _boxes_of(pipeline.detector) for p, pipeline in pipelines.items()}
    if reference is not None:
        runners["facenet"] = reference
    print(f"Detector, ms per frame (mean of {repeats} interleaved passes; ratios: median of pair ratios):")
    for size, images in frames.items():
        times = interleave(runners, images, repeats)
        found = {name: [run(f) for f in images] for name, run in runners.items()}
        line = "  ".join(f"{name} {mean_ms(t):.1f}" for name, t in times.items())
        ratio = speedup(times["fp32"], times["int8"])
        print(f"  {size} ({len(images)} frames): {line}; int8 vs fp32 {ratio:.2f}x")
        report.figures[f"mtcnn_int8_speedup_{size}"] = round(ratio, 3)
        counts = {name: sum(map(len, boxes)) for name, boxes in found.items()}
        report.faces[size] = counts
        if reference is not None:
            vs = speedup(times["facenet"], times["fp32"])
            both = sum(matched_faces(a, b) for a, b in zip(found["fp32"], found["facenet"], strict=True))
            print(
                f"    speed-up vs facenet-pytorch {vs:.2f}x (int8 {speedup(times['facenet'], times['int8']):.2f}x); "
                f"faces: facefleet {counts['fp32']} (int8 {counts['int8']}), facenet-pytorch {counts['facenet']}, "
                f"found by both (IoU >= 0.5) {both}"
            )
            report.figures[f"speedup_vs_facenet_{size}"] = round(vs, 3)
        print_gmacs(pipelines["fp32"], images, mean_ms(times["fp32"]), size, report)


def print_gmacs(
    pipeline: FacePipeline, images: list[np.ndarray], ms_per_frame: float, size: str, report: BenchReport
) -> None:
    gmacs = detector_gmacs(pipeline, images)
    total, peak = sum(gmacs.values()), peak_gmacs()
    rate = total / (ms_per_frame / 1000)
    print(
        f"    fp32 work: {total:.3f} GMAC/frame ("
        + ", ".join(f"{k} {v:.3f}" for k, v in gmacs.items())
        + f") -> {rate:.1f} GMAC/s = {100 * rate / peak:.1f}% of this CPU's FP32 peak "
        f"({peak:.0f} GMAC/s: {os.cpu_count()} cores x clock x {FP32_MACS_PER_CYCLE} MAC/cycle)"
    )
    report.figures[f"mtcnn_gmac_per_frame_{size}"] = round(total, 4)
    report.figures[f"mtcnn_fraction_of_peak_{size}"] = round(rate / peak, 4)


def bench_embedder(
    pipelines: dict[str, FacePipeline], frames: list[np.ndarray], repeats: int, report: BenchReport
) -> None:
    crops = np.stack([cv2.resize(f[100:260, 240:400], (112, 112)) for f in frames])
    print("Embedder, ms per face (mean of interleaved runs; ratio: median of pair ratios):")
    for batch_size in (1, 16):
        sample = [np.resize(crops, (batch_size, 112, 112, 3))]
        runners = {p: pipeline.embedder.embed for p, pipeline in pipelines.items()}
        times = interleave(runners, sample, repeats * 4)
        ratio = speedup(times["fp32"], times["int8"])
        model = pipelines["fp32"].model_id
        print(
            f"  {model} batch {batch_size}: fp32 {mean_ms(times['fp32']) / batch_size:.2f}, "
            f"int8 {mean_ms(times['int8']) / batch_size:.2f} ({pipelines['int8'].model_paths[model].name}); "
            f"int8 {ratio:.2f}x faster"
        )
        report.figures[f"sface_int8_speedup_b{batch_size}"] = round(ratio, 3)


def _fastest_torch_threads(torch: Any, detect: Callable[[np.ndarray], object], frames: list[np.ndarray]) -> None:
    """Give facenet-pytorch its faster thread count, 1 or one per core: on a loaded machine torch's
    OpenMP threads wait for each other at every op and one thread can be several times faster."""
    counts = sorted({1, os.cpu_count() or 1})
    best = {}
    for count in counts:
        torch.set_num_threads(count)
        detect(frames[0])
        best[count] = min(_seconds(partial(detect, f)) for f in frames)
    chosen = min(best, key=lambda c: best[c])
    torch.set_num_threads(chosen)
    print(
        "facenet-pytorch: "
        + ", ".join(f"{c} thread(s) {1000 * t:.0f} ms" for c, t in best.items())
        + f" on a 640x360 frame; running with {chosen}"
    )


def run_bench(
    data_dir: Path,
    model_dir: Path | None = None,
    repeats: int = 10,
    compare_facenet: bool = True,
    json_path: Path | None = None,
) -> BenchReport:
    frames = bench_frames(data_dir)
    pipelines = {
        p: FacePipeline.from_config(PipelineConfig(model_dir=model_dir, backend=OnnxRuntimeConfig(precision=p)))
        for p in ("fp32", "int8")
    }
    reference = None
    if compare_facenet:
        import torch

        from models.eval.facenet_reference import facenet_mtcnn

        torch.set_grad_enabled(False)
        model = facenet_mtcnn(pipelines["fp32"].detector.config.min_face_px)
        reference = lambda f: _as_xyxy(model.detect(f)[0])  # noqa: E731
        _fastest_torch_threads(torch, reference, frames["640x360"][:3])
    report = BenchReport()
    bench_detectors(pipelines, reference, frames, repeats, report)
    bench_embedder(pipelines, frames["640x360"], repeats, report)
    if json_path is not None:
        json_path.write_text(json.dumps({**report.figures, "faces": report.faces}, indent=2, sort_keys=True))
        print(f"figures written to {json_path}")
    return report
