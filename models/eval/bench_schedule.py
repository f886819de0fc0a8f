"""`facefleet bench models --schedule`: faces found per frame by full detection on every frame vs. the detection
schedule (`models.detect.schedule`: full detection every k frames, `detect_in_regions` between), on real clips.

The schedule is fed as "live tracks" the faces it found in the last `coast_frames` frames (newest box per
face), standing in for the agent's tracker, which predicts a track's box for a while after it was last
seen. As in the agent, a shot cut (`models.detect.shotcut`, the agent's default thresholds) forgets every
live face and forces the whole pyramid. Every configuration sees the same frames, interleaved frame by
frame, so the time ratios compare like with like on a shared machine.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from models.detect.boxes import iou_matrix
from models.detect.mtcnn import MtcnnDetector
from models.detect.schedule import DetectionSchedule, ScheduleConfig
from models.detect.shotcut import ShotCutDetector


def clip_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of a video file as (H, W, 3) uint8 RGB."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open {path}")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def matched_faces(found: np.ndarray, reference: np.ndarray, iou: float = 0.5) -> int:
    """How many reference boxes (M, 4) have their own found box (N, 4) at IoU >= iou (greedy, one to one)."""
    overlap = iou_matrix(found, reference)
    matched = 0
    while overlap.size and overlap.max() >= iou:
        i, j = np.unravel_index(overlap.argmax(), overlap.shape)
        overlap[i, :] = 0
        overlap[:, j] = 0
        matched += 1
    return matched


@dataclass
class ScheduleRun:
    """Per-frame results of one configuration: faces found, faces matching the every-frame reference,
    which detection ran, seconds spent."""

    label: str
    faces: list[int] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    seconds: float = 0.0


def live_boxes(history: deque[np.ndarray]) -> np.ndarray:
    """Boxes of the faces seen in the last frames, newest first; an older box overlapping a newer one
    (IoU > 0.3) is the same face and is dropped. history: newest last, each (N, 4)."""
    boxes = np.zeros((0, 4), np.float32)
    for seen in reversed(history):
        fresh = seen[iou_matrix(seen, boxes).max(axis=1) <= 0.3] if len(boxes) else seen
        boxes = np.concatenate([boxes, fresh])
    return boxes


def run_clip(
    detector: MtcnnDetector, frames: Iterator[np.ndarray], intervals: tuple[int, ...], coast_frames: int = 3
) -> list[ScheduleRun]:
    """Full detection on every frame (the reference, run first) and one schedule per interval k."""
    reference = ScheduleRun("every frame")
    runs = [ScheduleRun(f"every {k}") for k in intervals]
    schedules = [DetectionSchedule(ScheduleConfig(full_every_frames=k)) for k in intervals]
    history: list[deque[np.ndarray]] = [deque(maxlen=coast_frames) for _ in intervals]
    cuts = ShotCutDetector()
    for rgb in frames:
        cut = cuts.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        start = time.perf_counter()
        truth = detector.detect(rgb).xyxy
        reference.seconds += time.perf_counter() - start
        reference.faces.append(len(truth))
        reference.matched.append(len(truth))
        reference.kinds.append("full")
        for i, (run, schedule) in enumerate(zip(runs, schedules, strict=True)):
            if cut:
                history[i].clear()
            start = time.perf_counter()
            result = schedule.detect(detector, rgb, live_boxes(history[i]), force_full=cut)
            run.seconds += time.perf_counter() - start
            history[i].append(result.faces.xyxy)
            run.faces.append(len(result.faces))
            run.matched.append(matched_faces(result.faces.xyxy, truth))
            run.kinds.append(result.kind)
    return [reference, *runs]


def shot_ranges(truth_yaml: Path) -> list[tuple[str, int, int]]:
    """(label, first, last) frame ranges of the truth file's shots."""
    shots = yaml.safe_load(truth_yaml.read_text(encoding="utf-8"))["shots"]
    return [(f"frames {a}-{b}", int(a), int(b)) for a, b in (s["frames"] for s in shots)]


def print_runs(title: str, runs: list[ScheduleRun], segments: list[tuple[str, int, int]], per_frame: bool) -> None:
    reference = runs[0]
    n = len(reference.faces)
    print(f"{title}: {n} frames; faces per frame (found, of them also found by full detection at IoU >= 0.5)")
    print(f"  {'':18s}" + "".join(f"{r.label:>18s}" for r in runs))
    for label, first, last in [*segments, ("whole clip", 0, n - 1)]:
        span = slice(first, last + 1)
        cells = [f"{np.mean(r.faces[span]):8.2f} ({np.mean(r.matched[span]):5.2f})" for r in runs]
        print(f"  {label:18s}" + "".join(f"{c:>18s}" for c in cells))
    total = sum(reference.faces)
    print(f"  {'recall vs full':18s}" + "".join(f"{100 * sum(r.matched) / max(total, 1):17.1f}%" for r in runs))
    print(
        f"  {'full/regions/skip':18s}"
        + "".join(f"{r.kinds.count('full'):>8d}/{r.kinds.count('regions')}/{r.kinds.count('skip'):<4d}" for r in runs)
    )
    print(f"  {'ms per frame':18s}" + "".join(f"{1000 * r.seconds / n:18.1f}" for r in runs))
    print(f"  {'speed-up':18s}" + "".join(f"{reference.seconds / r.seconds:17.2f}x" for r in runs))
    if per_frame:
        print("  frame " + " ".join(f"{r.label:>12s}" for r in runs))
        for i in range(n):
            print(f"  {i:5d} " + " ".join(f"{r.faces[i]:>6d} ({r.kinds[i][0]})  " for r in runs))


def run_schedule_bench(
    data_dir: Path, detector: MtcnnDetector, intervals: tuple[int, ...] = (2, 3, 5), per_frame: bool = False
) -> dict[str, list[ScheduleRun]]:
    """The recall check on the Hamilton clip (per shot of its truth file) and the 1080p crowd clip."""
    clips = data_dir / "clips"
    results: dict[str, list[ScheduleRun]] = {}
    for name, segments in (
        ("short_hamilton_clip", shot_ranges(clips / "short_hamilton_clip.truth.yaml")),
        ("crowd_1080p", []),
    ):
        runs = run_clip(detector, clip_frames(clips / f"{name}.mp4"), intervals)
        print_runs(f"{name}.mp4 (min_face_px {detector.config.min_face_px})", runs, segments, per_frame)
        results[name] = runs
    return results
