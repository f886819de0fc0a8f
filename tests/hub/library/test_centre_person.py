"""Video enrollment keeps the person in the centre: table-driven over made-up embeddings, then a real shot of
a sitcom with two and three people on screen."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from hub.library.enroll import Enroller, centre_person
from hub.settings import EnrollConfig
from models.imageio import load_image

A, B, C = np.eye(3, dtype=np.float32)
A2 = np.array([0.9, 0, 0.436], np.float32)  # A from another angle: cosine 0.9 with A, 0.44 with C
AC = np.array([0.7, 0, 0.714], np.float32)  # alike to both A (0.7) and C (0.71): a blurred half-turn


@pytest.mark.parametrize(
    ("faces", "kept"),
    [
        ([], []),  # no face: nothing
        ([A], [0]),  # one face: that one
        ([A, A2, B, A], [0, 1, 3]),  # B in the centre once (the subject stepped aside): left out
        ([B, A, C, A2, A], [1, 3, 4]),  # the person most often central wins, wherever they come first
        ([A, B], [0]),  # a tie: the earlier face
        ([A, A, A, AC, C], [0, 1, 2, 3]),  # AC is alike to most faces, but does not carry C in
    ],
)
def test_centre_person(faces: list[np.ndarray], kept: list[int]) -> None:
    embeddings = np.stack(faces) if faces else np.zeros((0, 3), np.float32)
    assert centre_person(embeddings, same_person_cosine=0.5).tolist() == kept


def test_a_shot_of_two_keeps_only_the_one_in_the_centre(
    pipeline,
    shared_data: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    # frames 401-434 of the clip: Eddie in the centre, Emery beside him (dinner_720p.truth.yaml), then the cut
    # to Evan; the face nearest the centre is Emery's or Evan's in a few frames
    sitcom = shared_data / "clips" / "sitcom"
    capture = cv2.VideoCapture(str(sitcom / "dinner_720p.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 401)
    video = tmp_path / "shot.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 24, (1280, 720))
    for _ in range(401, 435):
        writer.write(capture.read()[1])
    writer.release()
    enroller = Enroller(lambda: pipeline, EnrollConfig())
    report = enroller.from_video(video, "shot", np.zeros((0, 0), np.float32))

    names = sorted(p.name for p in (sitcom / "people").iterdir())
    photos = [load_image(sitcom / "people" / n / f"{n}.png") for n in names]
    references = np.stack([a.embeddings[i] for a, i in (enroller.main_face(p) for p in photos)])
    who = [names[int(np.argmax(references @ c.embedding))] for c in report.accepted]
    assert report.rejected["other_person"] >= 2
    assert len(who) >= 5 and set(who) == {"eddie"}
