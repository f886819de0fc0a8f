"""The GPU check on the CPU: its measures, gates, pack format, and one whole run with --device cpu --small.

The GPU run itself needs a lent GPU machine; everything it computes is computed here too, on the CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.eval.verification import kfold_verification
from scripts.gpucheck.pack import fold_rows
from scripts.gpucheck.packfile import DATA_FILE, PackedCheck, compress_model, join_blobs, load_pack, split_blobs
from scripts.gpucheck.run import subset_pairs
from scripts.gpucheck.table import Row, format_table, gate_float, gate_int8, lfw_accuracy, row_cosines
from tests.conftest import ROOT


def test_row_cosines() -> None:
    a = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    b = np.array([[2.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(row_cosines(a, b), [1.0, -1.0, np.sqrt(0.5)])


def test_lfw_accuracy_is_the_readme_protocol() -> None:
    # One threshold search in the project (models.eval.verification, same iff score >= threshold): the check's
    # accuracy is exactly kfold_verification's on the pair cosines.
    rng = np.random.default_rng(0)
    emb = rng.standard_normal((40, 8))
    pairs = np.column_stack([rng.integers(0, 40, 200), rng.integers(0, 40, 200), rng.integers(0, 2, 200)])
    folds = np.repeat(np.arange(4), 50)
    scores = row_cosines(emb[pairs[:, 0]], emb[pairs[:, 1]])
    assert lfw_accuracy(emb, pairs, folds) == kfold_verification(scores, pairs[:, 2].astype(bool), folds).accuracy
    assert not list((ROOT / "scripts").rglob("*metrics*.py"))  # the second search (with `>`) is gone


@pytest.mark.parametrize(
    ("row", "gate", "expected"),
    [
        (Row("embed", "torch cuda fp32", cos_min=0.9995), "float", "pass"),
        (Row("embed", "torch cuda fp16", cos_min=0.998), "float", "FAIL cos < 0.999"),
        (Row("embed", "ort-cpu int8", cos_min=0.96, lfw_delta_points=-0.2), "int8", "pass"),  # cosine not gated
        (Row("embed", "trt int8", lfw_delta_points=-0.4), "int8", "FAIL lfw drop > 0.3"),  # like the LFW gate
    ],
)
def test_gates(row: Row, gate: str, expected: str) -> None:
    gated = gate_float(row) if gate == "float" else gate_int8(row, 0.3)
    assert gated.gate == expected and gated.failed == expected.startswith("FAIL")


def test_table_lists_every_row_and_batch() -> None:
    rows = [
        Row(
            "embed",
            "torch cuda fp32",
            ips={1: 812.4, 32: 9000.0, 256: 0.5},
            cos_min=0.99951,
            lfw_acc=0.9917,
            lfw_delta_points=0.0,
            gate="pass",
        ),
        Row("embed", "trt int8", gate="n/a", note="not available: tensorrt is not importable"),
    ]
    lines = format_table(rows, [1, 32, 256]).splitlines()
    assert lines[0].split()[:5] == ["check", "backend", "b1/s", "b32/s", "b256/s"]
    assert lines[2].split()[:10] == [
        "embed",
        "torch",
        "cuda",
        "fp32",
        "812",
        "9000",
        "0.5",
        "0.99951",
        "99.17%",
        "+0.00",
    ]
    assert "not available: tensorrt" in lines[3]


def test_blobs_round_trip() -> None:
    blobs = [b"", b"abc", b"\x00" * 5]
    assert split_blobs(*join_blobs(blobs)) == blobs


def test_pack_round_trip(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    model = tmp_path / "sface.onnx"
    model.write_bytes(b"onnx-bytes" * 100)
    compress_model(model, pack)
    jpeg = cv2.imencode(".jpg", np.full((112, 112, 3), 128, np.uint8))[1].tobytes()
    crops, offsets = join_blobs([jpeg, jpeg])
    np.savez(
        pack / DATA_FILE,
        lfw_jpeg=crops,
        lfw_offsets=offsets,
        pairs=np.array([[0, 1, 1]], np.int32),
        pair_folds=np.zeros(1, np.int32),
        train_jpeg=crops,
        train_offsets=offsets,
        train_labels=np.array([0, 1], np.int32),
    )
    loaded = load_pack(pack, tmp_path / "models")
    assert loaded.lfw_crops_rgb.shape == (2, 112, 112, 3) and abs(int(loaded.lfw_crops_rgb[0, 0, 0, 0]) - 128) <= 2
    assert loaded.train_labels.tolist() == [0, 1]
    assert (tmp_path / "models" / "sface.onnx").read_bytes() == model.read_bytes()


def test_a_missing_pack_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="gpucheck pack"):
        load_pack(tmp_path, tmp_path / "models")


@pytest.mark.parametrize(
    ("taken", "max_pairs", "expected"), [(0, 0, [0, 2, 4]), (0, 2, [0, 2]), (3, 4, [0]), (4, 4, [])]
)
def test_fold_rows(taken: int, max_pairs: int, expected: list[int]) -> None:
    assert fold_rows(np.array([0, 1, 0, 1, 0]), 0, taken, max_pairs).tolist() == expected


def test_subset_pairs_keeps_only_the_crops_it_needs() -> None:
    crops = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 3), np.uint8)
    pairs = np.array([[0, 1, 1], [2, 3, 0], [4, 5, 1]], np.int32)
    pack = PackedCheck(crops, pairs, np.array([0, 1, 2], np.int32), crops, np.zeros(6, np.int32), Path("."))
    small = subset_pairs(pack, 2)
    assert small.pairs.tolist() == [[0, 1, 1], [2, 3, 0]] and small.pair_folds.tolist() == [0, 1]
    assert small.lfw_crops_rgb[:, 0, 0, 0].tolist() == [0, 1, 2, 3]


@pytest.mark.slow
def test_whole_check_runs_on_the_cpu(tmp_path: Path, shared_data: Path) -> None:
    pack, out = tmp_path / "pack", tmp_path / "out"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.gpucheck",
            "pack",
            "--lfw",
            str(shared_data / "lfw"),
            "--out",
            str(pack),
            "--no-wheels",
            "--max-folds",
            "1",
            "--max-pairs",
            "20",
            "--train-people",
            "4",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    ran = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.gpucheck",
            "run",
            "--pack",
            str(pack),
            "--device",
            "cpu",
            "--small",
            "--batches",
            "1,2",
            "--train-steps",
            "3",
            "--work",
            str(tmp_path / "work"),
            "--int8-max-lfw-drop",
            "100",  # 20 pairs: one flipped pair is 5 points
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    rows = {(r["check"], r["backend"]): r for r in json.loads((out / "results.json").read_text())["rows"]}
    torch_row = rows[("embed", "torch cpu fp32")]
    assert torch_row["cos_min"] >= 0.999 and torch_row["gate"] == "pass" and set(torch_row["ips"]) == {"1", "2"}
    assert rows[("embed", "ort-cpu int8")]["gate"] == "pass" and rows[("embed", "ort-cpu int8")]["lfw_acc"] > 0.7
    assert rows[("embed", "trt int8")]["note"].startswith("not available: tensorrt")
    assert rows[("retrain", "torch cpu")]["value"].endswith("ms/step")
    assert "cuda memory" in ran.stdout and "trt fp16" in ran.stdout


def test_missing_packages_come_from_the_packed_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A bare GPU image lacks pydantic: the run installs the pack's wheels into a temp dir and re-runs itself
    # once with them on PYTHONPATH (standard library only until then).
    from scripts.gpucheck import deps

    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "pydantic-2-py3-none-any.whl").write_bytes(b"")
    calls: list[list[str]] = []
    monkeypatch.setattr(deps, "missing_modules", lambda: ["pydantic"])
    monkeypatch.setattr(deps.subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.delenv(deps.MARKER, raising=False)

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append(argv)
        assert env[deps.MARKER] == "1" and env["PYTHONPATH"].split(":")[0] == calls[0][calls[0].index("--target") + 1]
        raise SystemExit(0)

    monkeypatch.setattr(deps.os, "execve", execve)
    with pytest.raises(SystemExit):
        deps.ensure_dependencies(tmp_path, ["run", "--pack", str(tmp_path)])
    assert "--no-index" in calls[0] and calls[0][-1].endswith("pydantic-2-py3-none-any.whl")
    assert calls[1][1:] == ["-m", "scripts.gpucheck", "run", "--pack", str(tmp_path)]
    monkeypatch.setenv(deps.MARKER, "1")  # a second time round, still missing: a clear error, no loop
    with pytest.raises(SystemExit, match="missing Python modules"):
        deps.ensure_dependencies(tmp_path, ["run"])
