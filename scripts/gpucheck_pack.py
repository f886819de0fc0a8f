"""The packed GPU-check data: LFW pairs as aligned crops, 720p frames and the ONNX models, in one folder.

The GPU machine sees only the repository, so `scripts/pack_gpu_check.py` detects and aligns here (FP32 CPU
pipeline, the reference) and `scripts/gpu_check.py` reads the same layout there. Keeping the format in one
module means the two sides cannot drift apart.

Layout of the folder:
    models/<file>.onnx.xz   the ONNX models, xz-compressed (float weights shrink about 25%)
    data.npz                crops_jpeg (bytes), crops_offsets (K+1,), pairs (P, 3) int32 i j same,
                            pair_folds (P,), frames_jpeg/frames_offsets (720p frames), calib_jpeg/offsets
                            (aligned crops of people outside pairs.txt, for INT8 calibration)
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


def join_blobs(blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate byte strings: (total,) uint8 and (K+1,) int64 offsets; blob i is [off[i], off[i+1])."""
    offsets = np.zeros(len(blobs) + 1, np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    return np.frombuffer(b"".join(blobs), np.uint8).copy(), offsets


def split_blobs(data: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    return [data[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)]


def decode_bgr(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError("a packed JPEG does not decode: re-run scripts/pack_gpu_check.py")
    return image


def decode_rgb(jpegs: list[bytes]) -> np.ndarray:
    """JPEG byte strings of equal-sized images -> (K, H, W, 3) uint8 RGB."""
    images = [decode_bgr(b) for b in jpegs]
    return np.stack([cv2.cvtColor(im, cv2.COLOR_BGR2RGB) for im in images])


@dataclass(frozen=True)
class PackedCheck:
    """What gpu_check reads: crops (K,112,112,3) RGB, pairs (P,3) i j same, folds (P,), frames BGR."""

    crops_rgb: np.ndarray
    pairs: np.ndarray
    pair_folds: np.ndarray
    frames_bgr: list[np.ndarray]
    calib_rgb: np.ndarray
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
    with np.load(pack_dir / DATA_FILE) as data:
        crops = decode_rgb(split_blobs(data["crops_jpeg"], data["crops_offsets"]))
        frames = [decode_bgr(b) for b in split_blobs(data["frames_jpeg"], data["frames_offsets"])]
        calib = decode_rgb(split_blobs(data["calib_jpeg"], data["calib_offsets"]))
        return PackedCheck(crops, data["pairs"], data["pair_folds"], frames, calib,
                           unpack_models(pack_dir, model_dir))
