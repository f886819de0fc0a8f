"""What the stream tests share: people enrolled from their photos, the bundled clip's frames as JPEGs."""

from __future__ import annotations

import cv2

from tests.conftest import CLIPS
from tests.hub.conftest import HubServer

CLIP = CLIPS / "short_hamilton_clip.mp4"
SINGER = "Lin-Manuel Miranda"
SINGER_FRAMES = (83, 216)  # the singer's close-up (short_hamilton_clip.truth.yaml)
PEOPLE = {SINGER: "lin_manuel_miranda", "Alex Lacamoire": "alex_lacamoire", "Barack Obama": "obama"}


def enroll_and_sign(server: HubServer) -> str:
    """The clip's enrolled people from their photos in clips/people, and a signed gallery; its version."""
    with server.client(server.enroll) as client:
        for label, folder in PEOPLE.items():
            files = [
                ("files", (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg"))
                for p in sorted((CLIPS / "people" / folder).iterdir())
            ]
            answer = client.post("/api/samples/photos", data={"label": label}, files=files)
            assert answer.status_code == 201, answer.text
    with server.client(server.admin) as client:
        version: str = client.post("/api/galleries").json()["version"]
    return version


def clip_jpegs(first: int, last: int, width: int = 640, quality: int = 85) -> list[bytes]:
    """Frames first..last (inclusive, 0-based) of the clip, scaled to `width`, as JPEG bytes."""
    capture = cv2.VideoCapture(str(CLIP))
    capture.set(cv2.CAP_PROP_POS_FRAMES, first)
    jpegs = []
    for _ in range(first, last + 1):
        ok, image = capture.read()
        assert ok
        height = round(image.shape[0] * width / image.shape[1])
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        jpegs.append(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes())
    capture.release()
    return jpegs
