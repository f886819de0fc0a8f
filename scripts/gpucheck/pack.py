"""`python -m scripts.gpucheck pack`: what the GPU machine needs, from here, under a size budget.

The GPU machine sees only the working tree, so the FP32 CPU pipeline aligns the LFW pairs' images here (the
crops `facefleet eval lfw` caches) and the crops travel as JPEG, with the embedder's ONNX files and wheels of
the pure-Python packages the GPU image lacks. Folds are added until the budget is spent.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from scripts.gpucheck.packfile import (
    DATA_FILE,
    MODEL_FILES,
    WHEELS_DIR,
    compress_model,
    encode_jpeg,
    join_blobs,
    pack_size,
)

if TYPE_CHECKING:
    from models.pipeline import FacePipeline

log = logging.getLogger("gpucheck.pack")
WHEELS = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions")
TRAIN_FOLD = 9


def download_wheels(out: Path, python_version: str) -> None:
    """This machine's versions of WHEELS, as wheels for CPython `python_version` on manylinux x86-64."""
    specs = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [
        a for p in ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64") for a in ("--platform", p)
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(out / WHEELS_DIR),
            *specs,
        ],
        check=True,
    )


def fold_rows(fold: np.ndarray, k: int, taken: int, max_pairs: int) -> np.ndarray:
    """Indices of fold k's pairs, cut so that at most `max_pairs` (0: no limit) are taken in all."""
    rows = np.flatnonzero(fold == k)
    return rows[: max(max_pairs - taken, 0)] if max_pairs else rows


def aligned_lfw(
    pipeline: FacePipeline, lfw: Path, budget_left: int, max_folds: int, max_pairs: int
) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """JPEG crops of the images of whole folds 0, 1, ... (and the pairs (P, 3) i j same, folds (P,) over
    them) until the next fold would exceed `budget_left` bytes. Crops are cached per fold like the LFW eval."""
    from models.eval.lfw import cache_key, crops_for_images, read_pairs
    from models.registry import default_cache_dir

    pairs = read_pairs(lfw, min(max_folds, TRAIN_FOLD))
    index: dict[Path, int] = {}
    jpegs: list[bytes] = []
    rows: list[tuple[int, int, int, int]] = []
    for k in range(min(max_folds, TRAIN_FOLD)):
        chosen = fold_rows(pairs.fold, k, len(rows), max_pairs)
        new = sorted({pairs.images[i] for i in np.r_[pairs.index_a[chosen], pairs.index_b[chosen]]} - set(index))
        key = cache_key(lfw.resolve(), "gpucheck", k, len(new), pipeline.detector.config)
        crops, _ = crops_for_images(
            pipeline.detector, new, default_cache_dir() / "lfw" / f"gpucheck-{key}.npz", desc=f"LFW fold {k + 1}"
        )
        encoded = [encode_jpeg(c) for c in crops]
        if sum(map(len, encoded)) > budget_left:
            log.info("fold %d would exceed the budget: stopping at %d fold(s)", k + 1, k)
            break
        budget_left -= sum(map(len, encoded))
        for path, blob in zip(new, encoded, strict=True):
            index[path] = len(jpegs)
            jpegs.append(blob)
        rows += [
            (index[pairs.images[pairs.index_a[i]]], index[pairs.images[pairs.index_b[i]]], int(pairs.same[i]), k)
            for i in chosen
        ]
        if max_pairs and len(rows) >= max_pairs:
            break
    table = np.array(rows, np.int32).reshape(-1, 4)
    return jpegs, table[:, :3], table[:, 3]


def write_pack(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from hub.training.lfw_people import lfw_people_samples
    from models.pipeline import FacePipeline, PipelineConfig
    from models.registry import default_model_dir

    model_dir = args.model_dir or default_model_dir()
    pipeline = FacePipeline.from_config(PipelineConfig(model_dir=model_dir))
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    for name in MODEL_FILES:
        compress_model(model_dir / name, args.out)
    if not args.no_wheels:
        download_wheels(args.out, args.python_version)
    people = lfw_people_samples(
        pipeline, args.lfw, folds=[TRAIN_FOLD], people=args.train_people, min_images=6, max_images=6
    )
    train_jpeg = [encode_jpeg(c) for p in people for c in p.crops_rgb]
    train_labels = np.concatenate([np.full(len(p.crops_rgb), i, np.int32) for i, p in enumerate(people)])
    budget_left = int(args.budget_mib * 2**20) - pack_size(args.out) - sum(map(len, train_jpeg)) - (1 << 16)
    lfw_jpeg, pairs, folds = aligned_lfw(pipeline, args.lfw, budget_left, args.max_folds, args.max_pairs)
    lfw_data, lfw_offsets = join_blobs(lfw_jpeg)
    train_data, train_offsets = join_blobs(train_jpeg)
    np.savez(
        args.out / DATA_FILE,
        lfw_jpeg=lfw_data,
        lfw_offsets=lfw_offsets,
        pairs=pairs,
        pair_folds=folds,
        train_jpeg=train_data,
        train_offsets=train_offsets,
        train_labels=train_labels,
    )
    total = pack_size(args.out)
    print(
        f"packed {len(pairs)} LFW pairs in {len(np.unique(folds))} fold(s) ({len(lfw_jpeg)} crops), "
        f"{len(train_jpeg)} crops of {len(people)} trainees, {len(MODEL_FILES)} models, "
        f"{len(list((args.out / WHEELS_DIR).glob('*.whl')))} wheels: {total / 2**20:.1f} MiB in {args.out}"
    )
    if total > args.budget_mib * 2**20:
        print(f"the pack exceeds its budget of {args.budget_mib} MiB", file=sys.stderr)
        return 1
    return 0
