"""The GPU check's measures and its pack format, on the CPU (the GPU run prints what these compute)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from scripts.gpu_check import format_row, gates
from scripts.gpucheck_metrics import best_threshold, box_agreement, format_table, kfold_accuracy, row_cosines
from scripts.gpucheck_pack import DATA_FILE, compress_model, join_blobs, load_pack, split_blobs
from scripts.pack_gpu_check import read_pairs


def test_row_cosines() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(row_cosines(a, b), [1.0, -1.0, np.sqrt(0.5)])


@pytest.mark.parametrize(
    ("ref", "got", "expected"),
    [
        ([[0, 0, 10, 10]], [[1, 0, 10, 12]], (0, 2.0)),  # one face, 2 px apart
        ([[0, 0, 10, 10], [50, 50, 60, 60]], [[50, 51, 60, 60], [0, 0, 10, 10]], (0, 1.0)),  # order differs
        ([[0, 0, 10, 10], [50, 50, 60, 60]], [[0, 0, 10, 10]], (1, 0.0)),  # a face lost
        ([], [[0, 0, 10, 10]], (1, 0.0)),  # a face appeared
        ([], [], (0, 0.0)),
    ],
)
def test_box_agreement(ref: list[list[float]], got: list[list[float]], expected: tuple[int, float]) -> None:
    assert box_agreement(np.array(ref, float).reshape(-1, 4), np.array(got, float).reshape(-1, 4)) == expected


def test_best_threshold_separates() -> None:
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    same = np.array([False, False, True, True])
    assert 0.2 < best_threshold(scores, same) < 0.8


def test_kfold_accuracy_uses_other_folds_for_the_threshold() -> None:
    # Fold 1's scores are shifted: the threshold learnt on fold 0 (0.5) calls fold 1's 0.6 "same" (3/4
    # right); fold 1's threshold (0.775) gets all of fold 0 right. Mean 0.875, though each fold alone is 1.0.
    scores = np.array([0.1, 0.2, 0.8, 0.9, 0.5, 0.6, 0.95, 0.99])
    same = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    assert kfold_accuracy(scores, same, folds) == pytest.approx(0.875)
    assert kfold_accuracy(scores[:4], same[:4], folds[:4]) == 1.0  # one fold: its own best threshold


def test_kfold_accuracy_random_scores_are_near_chance() -> None:
    rng = np.random.default_rng(0)
    acc = kfold_accuracy(rng.random(2000), rng.random(2000) > 0.5, np.repeat(np.arange(5), 400))
    assert 0.4 < acc < 0.6


@pytest.mark.parametrize(
    ("row", "int8", "expected"),
    [
        ({"emb_cos_min": 0.995, "det_max_px": 1.0, "det_unmatched": 0, "lfw_acc": 0.99}, False, "pass"),
        ({"emb_cos_min": 0.98, "det_max_px": 1.0, "det_unmatched": 0, "lfw_acc": 0.99}, False, "FAIL cos"),
        ({"emb_cos_min": 0.999, "det_max_px": 6.0, "det_unmatched": 0, "lfw_acc": 0.99}, False, "FAIL boxes"),
        ({"emb_cos_min": 0.999, "det_max_px": 0.0, "det_unmatched": 1, "lfw_acc": 0.99}, False, "FAIL boxes"),
        ({"lfw_acc": 0.986}, True, "FAIL lfw"),  # 0.4 points below FP32's 0.990
        ({"lfw_acc": 0.988}, True, "pass"),  # 0.2 points below: within the 0.3 gate
    ],
)
def test_gates(row: dict[str, object], int8: bool, expected: str) -> None:
    assert gates(row, 0.990, int8) == expected


def test_table_formatting() -> None:
    row = format_row(
        {"backend": "trt fp16", "lfw_acc": 0.99166, "emb_cos_min": 0.99951, "sface_b8_ips": 812.4}
    )
    table = format_table([row], ["backend", "lfw_acc", "emb_cos_min", "sface_b8_ips", "note"])
    lines = table.splitlines()
    assert lines[0].split() == ["backend", "lfw_acc", "emb_cos_min", "sface_b8_ips", "note"]
    assert lines[2].split() == ["trt", "fp16", "99.17%", "0.9995", "812", "-"]


def test_blobs_round_trip() -> None:
    blobs = [b"", b"abc", b"\x00" * 5]
    assert split_blobs(*join_blobs(blobs)) == blobs


def test_pack_round_trip(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx-bytes" * 100)
    compress_model(model, pack)
    crop = np.full((112, 112, 3), 128, np.uint8)
    jpeg = cv2.imencode(".jpg", crop)[1].tobytes()
    frame = cv2.imencode(".jpg", np.zeros((720, 1280, 3), np.uint8))[1].tobytes()
    crops, crop_off = join_blobs([jpeg, jpeg])
    frames, frame_off = join_blobs([frame])
    np.savez(
        pack / DATA_FILE,
        crops_jpeg=crops,
        crops_offsets=crop_off,
        pairs=np.array([[0, 1, 1]], np.int32),
        pair_folds=np.zeros(1, np.int32),
        frames_jpeg=frames,
        frames_offsets=frame_off,
        calib_jpeg=crops,
        calib_offsets=crop_off,
    )
    loaded = load_pack(pack, tmp_path / "models")
    assert loaded.crops_rgb.shape == (2, 112, 112, 3) and abs(int(loaded.crops_rgb[0, 0, 0, 0]) - 128) <= 2
    assert loaded.frames_bgr[0].shape == (720, 1280, 3) and loaded.calib_rgb.shape == (2, 112, 112, 3)
    assert (tmp_path / "models" / "m.onnx").read_bytes() == model.read_bytes()


def test_read_pairs(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n")
    assert read_pairs(path) == [
        ("Abel_Pacheco", 1, "Abel_Pacheco", 4, True),
        ("Abdel_Madi_Shabneh", 1, "Dean_Barker", 1, False),
    ]


def test_first_folds_keeps_only_the_crops_it_needs() -> None:
    from scripts.gpu_check import first_folds
    from scripts.gpucheck_pack import PackedCheck

    crops = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 3), np.uint8)
    pairs = np.array([[0, 1, 1], [2, 3, 0], [4, 5, 1]], np.int32)
    pack = PackedCheck(crops, pairs, np.array([0, 1, 2], np.int32), [], crops, Path("."))
    small = first_folds(pack, 2)
    assert small.pairs.tolist() == [[0, 1, 1], [2, 3, 0]] and small.pair_folds.tolist() == [0, 1]
    assert small.crops_rgb[:, 0, 0, 0].tolist() == [0, 1, 2, 3]
