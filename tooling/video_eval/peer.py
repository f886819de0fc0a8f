"""The peer: the `face_recognition` library's canonical per-frame recipe on the same clip and people.

Recipe (its `facerec_from_video_file.py` / webcam examples): one encoding per enrollment photo (the largest
face), then on every frame `face_locations` (HOG, upsample 1) -> `face_encodings` -> the nearest known
encoding by `face_distance`, named when the distance is within the library's default tolerance 0.6.
dlib and the library come from PyPI wheels (`dlib-bin`, `face-recognition`, `face-recognition-models`,
weights inside the wheel) in the evaluation environment only; the agent never imports them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tooling.video_eval.replay import IMAGE_SUFFIXES
from tooling.video_eval.score import PersonShotScore
from tooling.video_eval.truth import ClipTruth

TOLERANCE = 0.6


class PeerUnavailable(RuntimeError):
    """face_recognition (and dlib) are not installed here."""


@dataclass(frozen=True)
class PeerRun:
    """Names per frame (None: a face nobody matched) and the wall time of the per-frame loop."""

    names: list[list[str | None]]
    seconds: float

    @property
    def fps(self) -> float:
        return len(self.names) / self.seconds if self.seconds > 0 else 0.0


def _known_encodings(fr: object, people_dir: Path) -> tuple[np.ndarray, list[str]]:
    encodings, owners = [], []
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        for photo in sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES):
            image = fr.load_image_file(str(photo))  # type: ignore[attr-defined]
            boxes = fr.face_locations(image)  # type: ignore[attr-defined]
            if boxes:
                largest = max(boxes, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
                encodings.append(fr.face_encodings(image, [largest])[0])  # type: ignore[attr-defined]
                owners.append(folder.name)
    return np.array(encodings), owners


def run_peer(clip: Path, people_dir: Path, max_frames: int | None = None) -> PeerRun:
    """The recipe on every frame of the clip, or on its first `max_frames` (it runs at about 1 fps on a 2-core
    CPU: the 1,972 frames of the sitcom clip take half an hour)."""
    try:
        import face_recognition as fr
    except ImportError as exc:
        raise PeerUnavailable(
            "face_recognition is not installed (pip install dlib-bin face-recognition-models "
            "and face-recognition --no-deps)"
        ) from exc
    known, owners = _known_encodings(fr, people_dir)
    capture = cv2.VideoCapture(str(clip))
    names: list[list[str | None]] = []
    start = time.perf_counter()
    try:
        while max_frames is None or len(names) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = np.ascontiguousarray(frame[:, :, ::-1])
            encodings = fr.face_encodings(rgb, fr.face_locations(rgb))
            frame_names: list[str | None] = []
            for encoding in encodings:
                distances = fr.face_distance(known, encoding)
                best = int(np.argmin(distances)) if len(distances) else -1
                frame_names.append(owners[best] if best >= 0 and distances[best] <= TOLERANCE else None)
            names.append(frame_names)
    finally:
        capture.release()
    return PeerRun(names, time.perf_counter() - start)


def score_peer(run: PeerRun, truth: ClipTruth, fps: float) -> tuple[list[PersonShotScore], int]:
    """Per (shot, enrolled person) outcome of the peer, and the frames that showed a wrong name; shots that end
    past the frames the peer ran on are left out."""
    people, wrong_frames = [], 0
    for shot in (s for s in truth.shots if s.last < len(run.names)):
        frames = run.names[shot.first : shot.last + 1]
        wrong = [any(n is not None and n not in shot.enrolled for n in f) for f in frames]
        wrong_frames += sum(wrong)
        for person in shot.enrolled:
            first = next((i for i, f in enumerate(frames) if person in f), None)
            first_face = next((i for i, f in enumerate(frames) if f), None)
            if first is not None:
                people.append(PersonShotScore(shot.label, person, "named", (first - (first_face or 0)) / fps))
            elif first_face is None:
                people.append(PersonShotScore(shot.label, person, "missed"))
            else:
                people.append(PersonShotScore(shot.label, person, "wrong" if any(wrong) else "unknown"))
    return people, wrong_frames
