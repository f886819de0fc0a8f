"""Uploaded images and videos: random or damaged bytes give a picture or a clear error, and change nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.imageio import ImageError, decode_image
from tests.conftest import CLIPS
from tests.fuzz.strategies import FUZZ, FUZZ_SLOW
from tests.hub.conftest import HubServer, library_state

JPEG = (CLIPS / "people" / "obama" / "obama.jpg").read_bytes()
VIDEO_HEAD = (CLIPS / "short_hamilton_clip.mp4").read_bytes()[:4096]


@st.composite
def damaged(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` cut short and with a few bytes overwritten: headers survive, the body does not."""
    data = bytearray(original[: draw(st.integers(0, len(original)))])
    for _ in range(draw(st.integers(0, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged TIFF tags, then copes
@FUZZ
@given(st.one_of(st.binary(max_size=2048), damaged(JPEG)))
def test_decode_image_gives_bgr8_or_image_error(data: bytes) -> None:
    try:
        image = decode_image(data)
    except ImageError as exc:
        assert str(exc)
        return
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3


def test_video_upload_of_bad_bytes_is_a_clear_4xx(hub_server: HubServer) -> None:
    before = library_state(hub_server.hub)
    client = hub_server.client(hub_server.enroll, timeout=60)

    @FUZZ_SLOW
    @given(st.one_of(st.binary(max_size=2048), damaged(VIDEO_HEAD)))
    def check(data: bytes) -> None:
        answer = client.post(
            "/api/samples/video", data={"label": "Fuzz"}, files={"file": ("clip.mp4", data, "video/mp4")}
        )
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.json()["detail"]

    try:
        check()
    finally:
        client.close()
    assert library_state(hub_server.hub) == before
