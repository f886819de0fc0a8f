"""The pixel budget and EXIF orientation, at the decoder and over HTTP: large JPEGs decoded reduced, other
large formats, over-budget requests and oversized video frames refused with a clear error before decoding,
and a phone photo stored sideways enrolled upright."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from models.imageio import DecodeLimits, ImageError, ImageHeader, decode_image, reduction_factor
from tests.conftest import CLIPS, LFW
from tests.hub.conftest import HubServer, library_state
from tooling.bench.hub.hostile import gray_jpeg, mjpeg_avi, png_bomb, video_bomb

PHOTO = LFW / "images_deepfunneled" / "Colin_Powell" / "Colin_Powell_0001.jpg"


def jpeg_bytes(image: np.ndarray, quality: int = 85) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def sideways_with_exif(path: Path) -> bytes:
    """The photo stored rotated 90 degrees clockwise, with EXIF Orientation 8 ("rotate 90 CW to view")...
    as a phone held sideways writes it: the pixels are on their side, the tag says how to turn them."""
    upright = Image.open(path)
    stored = upright.transpose(Image.Transpose.ROTATE_270)  # PIL rotates counter-clockwise: 270 = 90 CW
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation: the stored image must be turned 90 degrees counter-clockwise to view
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("header", "target", "factor"),
    [
        (ImageHeader("JPEG", 250, 250), 2_100_000, 1),  # small: full size
        (ImageHeader("JPEG", 4000, 3000), 2_100_000, 2),  # 12 MP: 1/2 leaves 3 MP >= target, 1/4 would not
        (ImageHeader("JPEG", 6000, 6000), 2_100_000, 4),  # 36 MP: 1/4 leaves 2.25 MP
        (ImageHeader("JPEG", 8000, 5000), 500_000, 8),  # 1/8 is the deepest reduction libjpeg offers
        (ImageHeader("PNG", 6000, 6000), 2_100_000, 1),  # PNG cannot be decoded reduced
        (ImageHeader("JPEG", 6000, 6000), None, 1),  # no target: full size
    ],
)
def test_reduction_factor(header: ImageHeader, target: int | None, factor: int) -> None:
    assert reduction_factor(header, target) == factor


def test_large_jpeg_is_decoded_reduced_and_upright() -> None:
    photo = cv2.imread(str(PHOTO))
    big = cv2.resize(photo, (5000, 5000))
    image = decode_image(jpeg_bytes(big), DecodeLimits(target_pixels=2_100_000))
    assert image.shape[0] * image.shape[1] <= 2_100_000 and image.shape[0] == image.shape[1]
    assert image.shape[0] >= 1400  # decoded at 1/2 (2500 px), then resampled: not the 1/4 (1250 px) result


def test_other_formats_over_the_full_decode_limit_are_refused_naming_the_size() -> None:
    limits = DecodeLimits(max_full_decode_pixels=12_000_000, target_pixels=2_100_000)
    with pytest.raises(ImageError, match=r"6000x6000 PNG \(36.0 MP\) exceeds the 12.0 MP limit"):
        decode_image(png_bomb(6000, 6000), limits)
    assert decode_image(png_bomb(3000, 3000), limits).shape[:2] == (1449, 1449)  # under it: decoded, scaled


def test_exif_orientation_is_applied() -> None:
    upright = cv2.imread(str(PHOTO))
    decoded = decode_image(sideways_with_exif(PHOTO))
    assert decoded.shape == upright.shape
    assert np.abs(decoded.astype(int) - upright).mean() < 4  # the same picture, turned back (JPEG noise only)


def test_sideways_phone_photo_is_enrolled_upright(hub_server: HubServer) -> None:
    data = sideways_with_exif(PHOTO)
    upright = PHOTO.read_bytes()
    with hub_server.client(hub_server.enroll) as client:
        enrolled = client.post(
            "/api/samples/photos", data={"label": "Colin Powell"}, files=[("files", ("phone.jpg", data, "image/jpeg"))]
        )
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["faces_extracted"] == 1
        verify = client.post(
            "/api/verify", files={"a": ("phone.jpg", data, "image/jpeg"), "b": ("upright.jpg", upright, "image/jpeg")}
        ).json()
    assert verify["same_person"] and verify["score"] > 0.9  # the face found is the upright one


def test_requests_over_the_budget_are_refused_before_any_work(start_hub, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hub = start_hub(enroll={"max_request_pixels": 1_000_000, "max_video_frame_pixels": 1_000_000})
    photo = ("files", ("a.jpg", PHOTO.read_bytes(), "image/jpeg"))  # 62,500 px each
    before = library_state(hub.hub)
    with hub.client(hub.enroll) as client:
        many = client.post("/api/samples/photos", data={"label": "Many"}, files=[photo] * 17)  # 1.06 MP
        assert many.status_code == 413 and "at most 1 MP" in many.json()["detail"], many.text
        video = video_bomb(tmp_path / "wide.mp4", 1600, 900, frames=2)  # 1.44 MP frames
        wide = client.post(
            "/api/samples/video", data={"label": "Wide"}, files=[("file", ("wide.mp4", video, "video/mp4"))]
        )
        assert wide.status_code == 422 and "1600x900" in wide.json()["detail"], wide.text
        search = client.post("/api/search", files={"file": ("bomb.png", png_bomb(6000, 6000), "image/png")})
        assert search.status_code == 422 and "bomb.png" in search.json()["detail"]
    assert library_state(hub.hub) == before


def test_a_video_whose_frames_lie_about_their_size_is_refused_before_decoding(hub_server: HubServer) -> None:
    lying = mjpeg_avi([gray_jpeg(64, 64), gray_jpeg(64, 64), gray_jpeg(4000, 3000)], (64, 64))  # 12 MP frame 2
    face = (CLIPS / "obama-1080p.jpg").read_bytes()
    honest = mjpeg_avi([face] * 3, (1920, 1080))
    before = library_state(hub_server.hub)
    with hub_server.client(hub_server.enroll) as client:
        refused = client.post(
            "/api/samples/video", data={"label": "Liar"}, files=[("file", ("lying.avi", lying, "video/x-msvideo"))]
        )
        assert refused.status_code == 422, refused.text
        assert "frame 2 declares 4000x3000" in refused.json()["detail"]  # from its header: nothing decoded
        assert library_state(hub_server.hub) == before
        enrolled = client.post(
            "/api/samples/video",
            data={"label": "Barack Obama"},
            files=[("file", ("honest.avi", honest, "video/x-msvideo"))],
        )
        assert enrolled.status_code == 201, enrolled.text
        assert enrolled.json()["frames_read"] == 3 and enrolled.json()["faces_extracted"] == 1


def test_budget_settings_must_be_ordered() -> None:
    from pydantic import ValidationError

    from hub.settings import EnrollConfig

    with pytest.raises(ValidationError, match="analysis_pixels <= max_full_decode_pixels"):
        EnrollConfig(analysis_pixels=20_000_000, max_full_decode_pixels=12_000_000)
