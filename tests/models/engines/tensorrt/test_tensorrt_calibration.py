"""Calibration data reading and the entropy calibrator, with a stand-in for the tensorrt module."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from models.engines.tensorrt.calibration import calibration_batches, make_entropy_calibrator, open_calibration


def _save(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4, 3, 24, 24), np.float64), "float32"),  # wrong dtype
        (np.zeros((4, 3, 48, 48), np.float32), "expected"),  # O-Net data given to R-Net
        (np.zeros((4, 3 * 24 * 24), np.float32), "expected"),  # flattened
        (np.zeros((0, 3, 24, 24), np.float32), "no calibration samples"),
    ],
)
def test_open_calibration_rejects(tmp_path: Path, array: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_calibration(_save(tmp_path / "c.npy", array), (3, 24, 24))


def test_open_calibration_memory_maps(tmp_path: Path) -> None:
    data = open_calibration(_save(tmp_path / "c.npy", np.ones((5, 3, 24, 24), np.float32)), (3, 24, 24))
    assert isinstance(data, np.memmap) and data.shape == (5, 3, 24, 24)


@pytest.mark.parametrize(
    ("count", "batch", "limit", "sizes"),
    [
        (10, 4, None, [4, 4]),  # the short remainder is dropped: the calibrator's batch size is fixed
        (8, 4, None, [4, 4]),
        (3, 4, None, [3]),  # fewer samples than a batch: one short batch rather than none
        (10, 2, 5, [2, 2]),  # limit
    ],
)
def test_calibration_batches(count: int, batch: int, limit: int | None, sizes: list[int]) -> None:
    data = np.arange(count, dtype=np.float32).reshape(count, 1, 1, 1)
    batches = list(calibration_batches(data, batch, limit))
    assert [len(b) for b in batches] == sizes
    assert all(b.flags.c_contiguous and b.dtype == np.float32 for b in batches)
    assert batches[0][0, 0, 0, 0] == 0.0


class _FakeMemory:
    def __init__(self) -> None:
        self.copies: list[np.ndarray] = []
        self.freed: list[int] = []

    def malloc(self, nbytes: int) -> int:
        return 0xD000

    def free(self, ptr: int) -> None:
        self.freed.append(ptr)

    def copy_to_device(self, dst: int, src: np.ndarray) -> None:
        self.copies.append(src.copy())


def _fake_trt() -> types.SimpleNamespace:
    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    return types.SimpleNamespace(__version__="8.5.2", IInt8EntropyCalibrator2=IInt8EntropyCalibrator2)


def test_entropy_calibrator_feeds_batches_then_stops(tmp_path: Path) -> None:
    data = np.arange(5 * 2, dtype=np.float32).reshape(5, 2, 1, 1)
    memory = _FakeMemory()
    calibrator = make_entropy_calibrator(_fake_trt(), data, 2, tmp_path / "sface.table", memory)
    assert calibrator.get_batch_size() == 2
    assert calibrator.get_batch(["data"]) == [0xD000]
    assert calibrator.get_batch(["data"]) == [0xD000]
    assert calibrator.get_batch(["data"]) is None
    assert [c[:, 0, 0, 0].tolist() for c in memory.copies] == [[0.0, 2.0], [4.0, 6.0]]
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(b"TRT-8502-EntropyCalibration2\n")
    assert calibrator.read_calibration_cache() == b"TRT-8502-EntropyCalibration2\n"
    calibrator.release()
    assert memory.freed == [0xD000]


def test_entropy_calibrator_needs_implicit_quantization(tmp_path: Path) -> None:
    trt = types.SimpleNamespace(__version__="11.0.0")
    with pytest.raises(RuntimeError, match="Q/DQ"):
        make_entropy_calibrator(trt, np.zeros((2, 1, 1, 1), np.float32), 1, tmp_path / "t", _FakeMemory())
