import io

import cv2
import numpy as np
import pytest
from PIL import Image

from models.imageio import ImageError, decode_image, load_image


def _png(array: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", array)
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),  # zero bytes
        (b"this is not an image at all", "not a readable image"),  # text file
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "not a readable image"),  # JPEG magic then garbage
    ],
)
def test_bad_bytes_give_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        decode_image(data)


def test_truncated_jpeg_is_refused_or_decoded_partially(shared_data) -> None:
    data = (shared_data / "clips" / "two_people.jpg").read_bytes()
    try:
        image = decode_image(data[: len(data) // 3])
    except ImageError as exc:
        assert "corrupt" in str(exc) or "readable" in str(exc)
    else:  # libjpeg fills the missing part; what comes back must still be a proper image
        assert image.ndim == 3 and image.shape[2] == 3


def test_huge_image_is_refused_before_decoding() -> None:
    buffer = io.BytesIO()
    Image.new("L", (20000, 20000)).save(buffer, format="PNG")  # a few hundred kB, 400 MP once decoded
    with pytest.raises(ImageError, match="exceeds"):
        decode_image(buffer.getvalue())


@pytest.mark.parametrize(
    "array",
    [
        np.full((40, 50), 128, np.uint8),  # grayscale
        np.full((40, 50, 4), 200, np.uint8),  # BGRA, 32-bit
        np.full((40, 50, 3), 60000, np.uint16),  # 48-bit
    ],
)
def test_pixel_formats_become_bgr8(array: np.ndarray) -> None:
    image = decode_image(_png(array))
    assert image.shape == (40, 50, 3) and image.dtype == np.uint8


def test_bundled_32bit_png(shared_data) -> None:
    assert load_image(shared_data / "clips" / "32bit.png").shape[2] == 3


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ImageError, match="cannot read"):
        load_image(tmp_path / "nope.jpg")
