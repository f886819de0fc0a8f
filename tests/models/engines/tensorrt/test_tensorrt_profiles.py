"""Optimization-profile shapes: pure functions, checked against what the detector really feeds P-Net."""

from __future__ import annotations

import numpy as np
import pytest

from models.detect.mtcnn import DetectorConfig, MtcnnDetector
from models.engines.tensorrt.trt_profiles import (
    PnetProfileConfig,
    ProfileConfig,
    Pyramid,
    ShapeRange,
    batch_profile,
    pnet_level_hw,
    pnet_profiles,
    profiles_for_input,
    select_profile,
    shape_string,
)

PYRAMID = Pyramid(min_face_px=20, scale_factor=0.709)  # DetectorConfig's defaults


class _RecordingNet:
    """A P-Net stand-in that records input shapes and finds no face (so R-Net/O-Net never run)."""

    name = "recording"

    def __init__(self) -> None:
        self.shapes: list[tuple[int, ...]] = []

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        self.shapes.append(batch.shape)
        n, _, h, w = batch.shape
        oh, ow = (h - 12) // 2 + 1, (w - 12) // 2 + 1
        return [np.zeros((n, 4, oh, ow), np.float32), np.zeros((n, 2, oh, ow), np.float32)]


@pytest.mark.parametrize("resolution_wh", [(1280, 720), (640, 480), (1920, 1080), (250, 250)])
def test_pnet_levels_are_the_shapes_the_detector_feeds(resolution_wh: tuple[int, int]) -> None:
    net = _RecordingNet()
    MtcnnDetector(net, net, net, DetectorConfig()).detect(np.zeros((resolution_wh[1], resolution_wh[0], 3), np.uint8))
    assert [s[2:] for s in net.shapes] == pnet_level_hw(resolution_wh, 20, 0.709)


@pytest.mark.parametrize("frame_wh", [(1280, 720), (640, 480), (960, 540), (720, 1280)[::-1], (320, 240)])
def test_range_profile_accepts_every_level_of_smaller_frames(frame_wh: tuple[int, int]) -> None:
    # The range profile is built for 720p; every level of any frame up to 720p must fit, whatever its aspect.
    (profile,) = pnet_profiles(3, PnetProfileConfig(resolution_wh=(1280, 720)), PYRAMID)
    for h, w in pnet_level_hw(frame_wh, 20, 0.709):
        assert profile.contains((1, 3, h, w)), (h, w)


def test_per_scale_profiles_are_fixed_shapes_one_per_level() -> None:
    profiles = pnet_profiles(3, PnetProfileConfig(mode="per_scale"), PYRAMID)
    levels = pnet_level_hw((1280, 720), 20, 0.709)
    assert len(profiles) == len(levels) == 11
    assert all(p.min == p.opt == p.max for p in profiles)
    assert profiles[0].opt == (1, 3, 433, 769)  # largest level, where P-Net spends its time


@pytest.mark.parametrize(
    ("item", "max_batch", "opt_batch", "expected"),
    [
        ((3, 24, 24), 32, 8, ShapeRange((1, 3, 24, 24), (8, 3, 24, 24), (32, 3, 24, 24))),  # R-Net default
        (
            (3, 112, 112),
            4,
            8,
            ShapeRange((1, 3, 112, 112), (4, 3, 112, 112), (4, 3, 112, 112)),
        ),  # opt clipped
        ((3, 48, 48), 1, 1, ShapeRange((1, 3, 48, 48), (1, 3, 48, 48), (1, 3, 48, 48))),  # batch 1 only
    ],
)
def test_batch_profile(item: tuple[int, ...], max_batch: int, opt_batch: int, expected: ShapeRange) -> None:
    assert batch_profile(item, max_batch, opt_batch) == expected


@pytest.mark.parametrize(
    ("onnx_shape", "count", "first_min"),
    [
        (["N", 3, 24, 24], 1, (1, 3, 24, 24)),  # R-Net: dynamic batch only
        (["N", 3, 112, 112], 1, (1, 3, 112, 112)),  # embedder
        (["N", 3, "H", "W"], 1, (1, 3, 12, 12)),  # P-Net: symbolic H/W -> pyramid range
        ([0, 3, 0, 0], 1, (1, 3, 12, 12)),  # unknown dims written as 0
    ],
)
def test_profiles_for_input(onnx_shape: list[int | str], count: int, first_min: tuple[int, ...]) -> None:
    profiles = profiles_for_input(onnx_shape, ProfileConfig(), PYRAMID)
    assert len(profiles) == count and profiles[0].min == first_min


@pytest.mark.parametrize(
    "onnx_shape",
    [
        ["N", 3, "H", 24],  # half-dynamic spatial dims: no net of ours has them
        ["N", "C", 24, 24],  # dynamic channels
        ["N", 128],  # not NCHW
    ],
)
def test_profiles_for_input_rejects(onnx_shape: list[int | str]) -> None:
    with pytest.raises(ValueError):
        profiles_for_input(onnx_shape, ProfileConfig(), PYRAMID)


def test_pnet_profiles_need_the_detector_pyramid() -> None:
    with pytest.raises(ValueError, match="pyramid"):
        profiles_for_input(["N", 3, "H", "W"], ProfileConfig())


@pytest.mark.parametrize("min_face_px", [20, 40, 80])
def test_pnet_profile_follows_the_detector_min_face(min_face_px: int) -> None:
    # One source: a larger smallest face shrinks the largest level, so the profile shrinks with it.
    (profile,) = pnet_profiles(3, PnetProfileConfig(), Pyramid(min_face_px, 0.709))
    assert profile.max[2:] == pnet_level_hw((1280, 720), min_face_px, 0.709)[0]


def test_pnet_profile_config_has_no_second_copy_of_the_pyramid() -> None:
    assert set(PnetProfileConfig.model_fields) == {"resolution_wh", "mode"}
    with pytest.raises(ValueError):
        PnetProfileConfig.model_validate({"min_face_px": 20})


@pytest.mark.parametrize(
    ("lo", "opt", "hi"),
    [
        ((1, 3), (4, 3), (2, 3)),  # opt above max
        ((0, 3), (1, 3), (2, 3)),  # zero dimension
        ((1, 3), (1, 3, 1), (1, 3)),  # ranks differ
    ],
)
def test_shape_range_validation(lo: tuple[int, ...], opt: tuple[int, ...], hi: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        ShapeRange(lo, opt, hi)


def test_select_profile_picks_the_first_that_fits_and_explains_misses() -> None:
    profiles = pnet_profiles(3, PnetProfileConfig(mode="per_scale"), PYRAMID)
    assert select_profile(profiles, (1, 3, 307, 545)) == 1
    with pytest.raises(ValueError, match="max_batch"):
        select_profile(profiles, (1, 3, 100, 100))


def test_shape_string() -> None:
    assert shape_string("input", (1, 3, 24, 24)) == "input:1x3x24x24"
