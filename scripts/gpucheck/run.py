"""`python -m scripts.gpucheck run`: every row of the table, one after the other, then the exit status.

A row whose path this machine lacks says "not available" and why; a row that breaks is a failure with the
error, and the other rows still run. The exit status is 1 when a gate fails (a float path off the reference,
an INT8 path losing more LFW accuracy than allowed, a CUDA round trip that is not exact), else 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.engines.backend import TensorRTConfig, TorchConfig
from models.engines.factory import open_backend
from models.engines.ort_providers import OnnxRuntimeConfig
from scripts.gpucheck.checks import cuda_memory_row, embed_row, retrain_row, tensorrt_reason
from scripts.gpucheck.packfile import PackedCheck, load_pack
from scripts.gpucheck.table import Row, format_table, gate_float, gate_int8, not_available

log = logging.getLogger("gpucheck")
SMALL_PAIRS = 120


def subset_pairs(pack: PackedCheck, count: int) -> PackedCheck:
    """The pack cut to its first `count` pairs, keeping only the crops those pairs use."""
    pairs = pack.pairs[:count]
    used, inverse = np.unique(pairs[:, :2], return_inverse=True)
    remapped = np.column_stack([inverse.reshape(-1, 2), pairs[:, 2]]).astype(np.int32)
    return dataclasses.replace(
        pack, lfw_crops_rgb=pack.lfw_crops_rgb[used], pairs=remapped, pair_folds=pack.pair_folds[:count]
    )


def environment(device: str) -> list[str]:
    import onnxruntime as ort

    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}, onnxruntime {ort.__version__} "
        f"{ort.get_available_providers()}"
    ]
    try:
        import torch

        cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
        lines.append(f"torch {torch.__version__} (CUDA {torch.version.cuda}): {cuda}; check on {device}")
    except ImportError as exc:
        lines.append(f"torch missing: {exc}")
    return lines


def _measured(label: str, make: Callable[[], Row]) -> Row:
    """Run one row; an error becomes a failing row naming it, so the other rows still report."""
    started = time.perf_counter()
    try:
        row = make()
    except Exception as exc:  # noqa: BLE001 - one broken path must not hide the others' numbers
        log.exception("%s failed", label)
        return Row("error", label, gate="FAIL error", note=f"{type(exc).__name__}: {exc}"[:160])
    took = f"{time.perf_counter() - started:.0f} s"
    row.note = f"{row.note}; {took}" if row.note else took
    return row


def embed_rows(pack: PackedCheck, device: str, batches: list[int], max_drop: float, work: Path) -> list[Row]:
    fp32, int8 = pack.model_dir / "sface.onnx", pack.model_dir / "sface.int8.onnx"
    ref_row, ref = embed_row("ort-cpu fp32 (ref)", open_backend(fp32, OnnxRuntimeConfig()), pack, None, batches)
    rows = [ref_row]
    assert ref_row.lfw_acc is not None

    def embed(label: str, path: Path, config: object, int8_row: bool) -> Row:
        row, _ = embed_row(label, open_backend(path, config), pack, ref, batches)  # type: ignore[arg-type]
        row.lfw_delta_points = 100 * (float(row.lfw_acc or 0) - float(ref_row.lfw_acc or 0))
        return gate_int8(row, max_drop) if int8_row else gate_float(row)

    precisions = ("fp32", "fp16") if device == "cuda" else ("fp32",)
    for precision in precisions:
        config = TorchConfig(device=device, precision=precision)
        rows.append(
            _measured(
                f"torch {device} {precision}",
                lambda c=config, p=precision: embed(  # type: ignore[misc]
                    f"torch {device} {p}", fp32, c, False
                ),
            )
        )
    rows.append(
        _measured("ort-cpu int8", lambda: embed("ort-cpu int8", int8, OnnxRuntimeConfig(precision="int8"), True))
    )
    rows += ort_gpu_rows(pack, embed)
    rows += tensorrt_rows(embed, fp32, int8, batches, work)
    return rows


def ort_gpu_rows(pack: PackedCheck, embed: Callable[[str, Path, object, bool], Row]) -> list[Row]:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return [
            not_available(
                "embed", "ort-cuda fp32", "onnxruntime has no CUDA provider (onnxruntime-gpu is not installed)"
            )
        ]
    config = OnnxRuntimeConfig(providers=["CUDAExecutionProvider"])
    return [_measured("ort-cuda fp32", lambda: embed("ort-cuda fp32", pack.model_dir / "sface.onnx", config, False))]


def tensorrt_rows(
    embed: Callable[[str, Path, object, bool], Row], fp32: Path, int8: Path, batches: list[int], work: Path
) -> list[Row]:
    reason = tensorrt_reason()
    if reason is not None:
        return [not_available("embed", f"trt {p}", reason) for p in ("fp16", "int8")]
    rows = []
    for precision, path in (("fp16", fp32), ("int8", int8)):
        config = TensorRTConfig(
            precision=precision,
            max_batch=max(batches),
            opt_batch=min(32, max(batches)),
            engine_cache_dir=work / "engines",
        )
        rows.append(
            _measured(
                f"trt {precision}",
                lambda c=config, p=path, q=precision: embed(  # type: ignore[misc]
                    f"trt {q}", p, c, q == "int8"
                ),
            )
        )
    return rows


def run_check(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    batches = (
        [int(b) for b in args.batches.split(",")] if args.batches else ([1, 4, 16] if args.small else [1, 32, 256])
    )
    steps = max(args.train_steps or (10 if args.small else 200), 3)
    work = args.work or Path(tempfile.mkdtemp(prefix="facefleet-gpucheck-"))
    pack = load_pack(args.pack, work / "models")
    if args.small:
        pack = subset_pairs(pack, SMALL_PAIRS)
    for line in environment(args.device):
        print(line, flush=True)
    print(
        f"pack: {len(pack.pairs)} LFW pairs in {len(np.unique(pack.pair_folds))} fold(s), "
        f"{len(pack.lfw_crops_rgb)} crops; {len(pack.train_crops_rgb)} trainee crops",
        flush=True,
    )
    rows = [_measured("cuda memory", lambda: cuda_memory_row(args.device))]
    rows += embed_rows(pack, args.device, batches, args.int8_max_lfw_drop, work)
    rows.append(_measured("retrain", lambda: retrain_row(pack, pack.model_dir / "sface.onnx", args.device, steps)))
    if args.require_tensorrt:
        for row in rows:
            if row.backend.startswith("trt") and row.gate == "n/a":
                row.gate = "FAIL required"
    print(format_table(rows, batches), flush=True)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(
            json.dumps(
                {
                    "environment": environment(args.device),
                    "batches": batches,
                    "pairs": len(pack.pairs),
                    "rows": [dataclasses.asdict(r) for r in rows],
                },
                indent=2,
            )
        )
    return 1 if any(r.failed for r in rows) else 0
