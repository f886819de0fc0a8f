"""Video enrollment, 1:1 verify and 1:N search against real photos and the real clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hub.library.enroll import evenly_spread
from tests.hub.conftest import HubServer, library_state


def people_photo(shared_data: Path, person: str, name: str) -> tuple[str, bytes, str]:
    return (name, (shared_data / "clips" / "people" / person / name).read_bytes(), "image/jpeg")


@pytest.mark.parametrize(
    ("count", "keep", "expected"),
    [
        (0, 3, []),  # nothing to spread
        (2, 3, [0, 1]),  # fewer than wanted: all
        (10, 3, [0, 4, 9]),  # first, middle, last
        (5, 1, [0]),  # one: the first
    ],
)
def test_evenly_spread(count: int, keep: int, expected: list[int]) -> None:
    assert evenly_spread(count, keep).tolist() == expected


def test_video_enrollment(hub_server: HubServer, shared_data: Path) -> None:
    clip = shared_data / "clips" / "short_hamilton_clip.mp4"
    with hub_server.client(hub_server.enroll) as client:
        response = client.post(
            "/api/samples/video",
            data={"label": "Hamilton cast", "max_frames": "60", "max_samples": "4"},
            files={"file": ("clip.mp4", clip.read_bytes(), "video/mp4")},
        )
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["frames_read"] == 60 and report["frames_analyzed"] == 12
    assert 1 <= report["faces_extracted"] <= 4
    assert report["faces_found"] == report["faces_extracted"] + sum(
        v for k, v in report["rejected"].items() if k != "no_face"
    )
    files = library_state(hub_server.hub)[2]
    assert len(files) == report["faces_extracted"] and all(f.endswith(".jpg") for f in files)
    crop = cv2.imread(str(hub_server.hub.library.samples_dir / files[0]))
    assert max(crop.shape[:2]) <= 300  # aligned crops, not raw frames


def test_video_without_face_and_non_video(hub_server: HubServer, tmp_path: Path) -> None:
    path = tmp_path / "wall.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 120))
    for i in range(15):
        writer.write(np.full((120, 160, 3), 10 * i, np.uint8))
    writer.release()
    with hub_server.client(hub_server.enroll) as client:
        no_face = client.post(
            "/api/samples/video",
            data={"label": "Wall"},
            files={"file": ("wall.avi", path.read_bytes(), "video/x-msvideo")},
        )
        not_video = client.post(
            "/api/samples/video",
            data={"label": "Wall"},
            files={"file": ("x.mp4", b"definitely not a video", "video/mp4")},
        )
    assert no_face.status_code == 422
    assert no_face.json()["detail"]["rejected"]["no_face"] == 15
    assert not_video.status_code == 422 and "video" in not_video.json()["detail"]
    assert library_state(hub_server.hub) == (0, 0, [])


def test_verify_and_search(hub_server: HubServer, shared_data: Path) -> None:
    with hub_server.client(hub_server.enroll) as client:
        for person, name in [("obama", "obama.jpg"), ("biden", "biden.jpg"), ("rose_leslie", "img1.jpg")]:
            response = client.post(
                "/api/samples/photos",
                data={"label": person},
                files=[("files", people_photo(shared_data, person, name))],
            )
            assert response.status_code == 201
        same = client.post(
            "/api/verify",
            files={
                "a": people_photo(shared_data, "obama", "obama.jpg"),
                "b": people_photo(shared_data, "obama", "obama2.jpg"),
            },
        ).json()
        other = client.post(
            "/api/verify",
            files={
                "a": people_photo(shared_data, "obama", "obama.jpg"),
                "b": people_photo(shared_data, "biden", "biden2.jpg"),
            },
        ).json()
        search = client.post(
            "/api/search",
            data={"top_k": "2"},
            files={"file": people_photo(shared_data, "biden", "biden2.jpg")},
        ).json()
    assert same["same_person"] and not other["same_person"]
    assert same["score"] > other["score"]
    assert search["face_found"] and len(search["hits"]) == 2
    assert search["hits"][0]["name"] == "biden"
    assert search["hits"][0]["score"] > search["hits"][1]["score"]
