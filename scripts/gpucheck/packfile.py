"""The pack's format, read and written in one place so the two sides cannot drift apart.

Layout of the folder:
    models/<file>.onnx.xz   the embedder's FP32 and INT8 (Q/DQ) ONNX, xz-compressed
    wheels/*.whl            pure-Python packages the GPU image lacks (pydantic and its helpers)
    data.npz                lfw_jpeg/lfw_offsets: aligned LFW crops as JPEG; pairs (P, 3) int32 i, j, same;
                            pair_folds (P,); train_jpeg/train_offsets + train_labels (T,): crops of people of
                            fold 9 (no pair of the packed folds has them) for the retraining run
"""

from __future__ import annotations

import lzma
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DATA_FILE = "data.npz"
MODELS_DIR = "models"
WHEELS_DIR = "wheels"
MODEL_FILES = ("sface.onnx", "sface.int8.onnx")


def join_blobs(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate byte strings: (total,) uint8 and (K+1,) int64 offsets; blob i is [off[i], off[i+1])."""
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8).copy(), offsets


def split_blobs(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    return [data[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]


def encode_jpeg(rgb: np.ndarray, quality: int = 92) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(buf.tobytes())


def decode_rgb(jpegs: list[bytes]) -> np.ndarray:
    """JPEG byte strings of 112x112 crops -> (K, 112, 112, 3) uint8 RGB."""
    images = []
    for blob in jpegs:
        image = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError("a packed JPEG does not decode: re-run `python -m scripts.gpucheck pack`")
        images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return np.stack(images) if images else np.zeros((0, 112, 112, 3), np.uint8)


@dataclass(frozen=True)
class PackedCheck:
    """LFW crops (K, 112, 112, 3) RGB, pairs (P, 3) i j same, folds (P,), trainee crops (T, ...) with labels
    (T,), and the folder holding the unpacked models."""

    lfw_crops_rgb: np.ndarray
    pairs: np.ndarray
    pair_folds: np.ndarray
    train_crops_rgb: np.ndarray
    train_labels: np.ndarray
    model_dir: Path


def compress_model(src: Path, pack_dir: Path) -> Path:
    dst = pack_dir / MODELS_DIR / (src.name + ".xz")
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fin, lzma.open(dst, "wb", preset=6) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)
    return dst


def unpack_models(pack_dir: Path, model_dir: Path) -> Path:
    """Decompress every models/*.onnx.xz into model_dir (once; kept if already there)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for packed in sorted((pack_dir / MODELS_DIR).glob("*.onnx.xz")):
        target = model_dir / packed.name[: -len(".xz")]
        if not target.exists():
            with lzma.open(packed, "rb") as fin, open(target, "wb") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    return model_dir


def load_pack(pack_dir: Path, model_dir: Path) -> PackedCheck:
    if not (pack_dir / DATA_FILE).exists():
        raise FileNotFoundError(f"no {DATA_FILE} in {pack_dir}: run `python -m scripts.gpucheck pack` first")
    with np.load(pack_dir / DATA_FILE) as data:
        return PackedCheck(
            decode_rgb(split_blobs(data["lfw_jpeg"], data["lfw_offsets"])),
            data["pairs"],
            data["pair_folds"],
            decode_rgb(split_blobs(data["train_jpeg"], data["train_offsets"])),
            data["train_labels"],
            unpack_models(pack_dir, model_dir),
        )


def pack_size(pack_dir: Path) -> int:
    return sum(p.stat().st_size for p in pack_dir.rglob("*") if p.is_file())
