"""Timing figures for the hub: enrollment over real HTTP, and gallery build time for many people.

Runs a real hub (uvicorn on a free port, temporary data folder) and the shared data set:
- 20 LFW photos of one person in one photo upload;
- the 9 larger photos of `clips/people` in one upload (typical phone/web photos);
- a 200-frame video upload (`clips/short_hamilton_clip.mp4`);
- a gallery build for N LFW people, after their samples were embedded and stored (the embedding time is
  reported separately, the build time covers templates, the gallery file, hashing and signing).
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tqdm import tqdm

from hub.service import Hub
from tooling.bench.hub.served import served_hub

log = logging.getLogger(__name__)


@dataclass
class Figures:
    photos20_s: float = 0.0
    people_photos_s: float = 0.0
    people_photos: int = 0
    video_s: float = 0.0
    video_frames_read: int = 0
    video_frames_analyzed: int = 0
    video_samples: int = 0
    lfw_people: int = 0
    lfw_samples: int = 0
    lfw_embed_s: float = 0.0
    gallery_build_s: float = 0.0
    gallery_bytes: int = 0

    def lines(self) -> list[str]:
        return [
            f"enroll 20 LFW photos (250x250) in one upload: {self.photos20_s:.2f} s",
            f"enroll {self.people_photos} people photos (about 1000 px) in one upload: {self.people_photos_s:.2f} s",
            f"enroll a {self.video_frames_read}-frame video: {self.video_s:.2f} s "
            f"({self.video_frames_analyzed} frames analyzed, {self.video_samples} samples kept)",
            f"embed and store {self.lfw_samples} samples of {self.lfw_people} LFW people: {self.lfw_embed_s:.1f} s",
            f"build + sign a gallery of {self.lfw_people} people from stored embeddings: "
            f"{self.gallery_build_s:.2f} s ({self.gallery_bytes} bytes)",
        ]


def _post(
    client: httpx.Client,
    path: str,
    label: str,
    files: list[tuple[str, tuple[str, bytes, str]]],
    data: dict[str, str] | None = None,
) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = client.post(path, data={"label": label, **(data or {})}, files=files)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def _http_figures(url: str, token: str, data_dir: Path, figures: Figures) -> None:
    lfw = data_dir / "lfw" / "images_deepfunneled"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
        photos = sorted((lfw / "Colin_Powell").glob("*.jpg"))[:20]
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in photos]
        figures.photos20_s, _ = _post(client, "/api/samples/photos", "Colin Powell", files)
        people = sorted((data_dir / "clips" / "people").glob("*/*"))
        files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in people]
        figures.people_photos = len(files)
        figures.people_photos_s, _ = _post(client, "/api/samples/photos", "Mixed people", files)
        clip = data_dir / "clips" / "short_hamilton_clip.mp4"
        figures.video_s, report = _post(
            client,
            "/api/samples/video",
            "Hamilton",
            [("file", (clip.name, clip.read_bytes(), "video/mp4"))],
            {"max_frames": "200", "max_samples": "20"},
        )
        figures.video_frames_read = int(report["frames_read"])
        figures.video_frames_analyzed = int(report["frames_analyzed"])
        figures.video_samples = int(report["faces_extracted"])


def _gallery_figures(hub: Hub, data_dir: Path, people: int, per_person: int, figures: Figures) -> None:
    lfw = data_dir / "lfw" / "images_deepfunneled"
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())[:people]
    start = time.perf_counter()
    limit = hub.settings.enroll.max_samples_per_person
    for folder in tqdm(folders, desc="LFW people", unit="person"):
        paths = sorted(folder.glob("*.jpg"))[:per_person]
        with contextlib.ExitStack() as files:
            photos = [(p.name, files.enter_context(p.open("rb"))) for p in paths]
            report = hub.enroller.from_photos(photos, np.zeros((0, 0), np.float32))
        if report.accepted:
            hub.library.add_samples(hub.library.begin_upload(folder.name), report.accepted, report.model_id, limit)
            figures.lfw_samples += len(report.accepted)
    figures.lfw_embed_s = time.perf_counter() - start
    figures.lfw_people = len(hub.library.people()) - 3  # minus the three HTTP uploads' people
    start = time.perf_counter()
    record = hub.galleries.build()
    figures.gallery_build_s = time.perf_counter() - start
    figures.gallery_bytes = record.size


def run_bench(data_dir: Path, people: int = 1000, per_person: int = 2) -> Figures:
    figures = Figures()
    with served_hub() as (hub, settings):
        _, token = hub.tokens.create("bench", ["enroll"])
        _http_figures(settings.base_url, token, data_dir, figures)
        _gallery_figures(hub, data_dir, people, per_person, figures)
    return figures
