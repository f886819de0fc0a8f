"""One-run GPU check of the TensorRT and onnxruntime GPU paths against onnxruntime FP32 on the CPU.

For every backend this machine has (TensorRT FP32/FP16/INT8 from Q/DQ/INT8 from the entropy calibrator,
onnxruntime's TensorRT and CUDA providers, onnxruntime CPU as reference and CPU INT8) it measures:
embedding agreement with the reference (cosine, gate >= 0.99), detection boxes on 720p frames (gate: same
faces within 4 px), LFW pair accuracy on the packed folds (gate: INT8 within 0.3 points of FP32), SFace
throughput at batch 1/8/32 and full-detector frames per second at 720p. Prints one table, writes JSON.
Backends missing here are listed with the reason instead of failing the run.

    python scripts/pack_gpu_check.py            # here, once: LFW crops, frames, models -> .gpucheck/
    python scripts/gpu_check.py --pack .gpucheck --out results.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.backend import (  # noqa: E402
    Backend,
    OnnxRuntimeConfig,
    OrtTensorRTOptions,
    TensorRTConfig,
    open_backend,
)
from models.embedder import Embedder  # noqa: E402
from models.mtcnn import DetectorConfig, MtcnnDetector  # noqa: E402
from models.registry import load_registry  # noqa: E402
from models.trt_profiles import ProfileConfig  # noqa: E402
from scripts.gpucheck_metrics import box_agreement, format_table, kfold_accuracy, row_cosines  # noqa: E402
from scripts.gpucheck_pack import PackedCheck, load_pack  # noqa: E402

log = logging.getLogger("gpu_check")
DET_MAX_BATCH = 128
EMB_MAX_BATCH = 32
COLUMNS = ["backend", "emb_cos_min", "emb_cos_mean", "det_faces", "det_max_px", "lfw_acc", "lfw_delta",
           "sface_b1_ips", "sface_b8_ips", "sface_b32_ips", "det720p_fps", "gates", "note"]


@dataclass(frozen=True)
class Variant:
    """One way to run the four nets. `make(model_file, role)` opens one backend."""

    label: str
    make: Callable[[str, str], Backend]
    embedder_file: str


def probe() -> dict[str, object]:
    """Versions and devices, each with the reason when missing."""
    info: dict[str, object] = {"python": platform.python_version(), "numpy": np.__version__}
    import onnxruntime as ort

    info["onnxruntime"] = f"{ort.__version__} {ort.get_available_providers()}"
    try:
        from models.tensorrt_backend import import_tensorrt

        info["tensorrt"] = import_tensorrt().__version__
    except ImportError as exc:
        info["tensorrt"] = f"missing ({exc.__cause__ or exc})"
    try:
        from models.cuda_memory import open_cuda_memory

        memory = open_cuda_memory()
        name, cc = memory.device_info()
        info["cuda"] = f"{memory.library}: {name} sm{cc[0]}{cc[1]}; {roundtrip(memory)}"
    except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
        info["cuda"] = f"unavailable ({type(exc).__name__}: {exc})"
    return info


def roundtrip(memory) -> str:  # type: ignore[no-untyped-def]
    """Pinned host -> device -> pinned host through one stream; proves the memory layer on this GPU."""
    data = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    host_in, host_out = memory.host_empty(data.nbytes), memory.host_empty(data.nbytes)
    device, stream = memory.malloc(data.nbytes), memory.create_stream()
    host_in[:] = data.view(np.uint8)
    started = time.perf_counter()
    memory.copy_to_device_async(device, host_in, stream)
    memory.copy_to_host_async(host_out, device, stream)
    memory.synchronize(stream)
    elapsed = time.perf_counter() - started
    ok = np.array_equal(host_out.view(np.float32), data)
    memory.free(device)
    memory.free_host(host_in)
    memory.free_host(host_out)
    memory.destroy_stream(stream)
    return f"4 MiB round trip {'ok' if ok else 'MISMATCH'} in {elapsed * 1e3:.2f} ms"


def variants(model_dir: Path, engine_dir: Path, calib_dir: Path, info: dict[str, object]) -> list[Variant]:
    import onnxruntime as ort

    def ort_maker(providers: list[str]) -> Callable[[str, str], Backend]:
        def make(file: str, role: str) -> Backend:
            batch = EMB_MAX_BATCH if role == "embedder" else DET_MAX_BATCH
            profiles = ProfileConfig(max_batch=batch, opt_batch=min(batch, 32))
            trt_options = OrtTensorRTOptions(engine_cache_dir=engine_dir / "ort", profiles=profiles)
            config = OnnxRuntimeConfig(providers=providers, precision="int8" if ".int8." in file else "fp32",
                                       tensorrt=trt_options)
            return open_backend(model_dir / file, config)
        return make

    def trt_maker(precision: str, int8_source: str = "auto") -> Callable[[str, str], Backend]:
        def make(file: str, role: str) -> Backend:
            # No INT8 artifacts for MTCNN in the pack: its nets run FP16 in the INT8 variants.
            p = precision if role == "embedder" or precision != "int8" else "fp16"
            batch = EMB_MAX_BATCH if role == "embedder" else DET_MAX_BATCH
            config = TensorRTConfig(precision=p, max_batch=batch, opt_batch=min(batch, 32),  # type: ignore[arg-type]
                                    engine_cache_dir=engine_dir, int8_source=int8_source,  # type: ignore[arg-type]
                                    calibration_dir=calib_dir)
            return open_backend(model_dir / file, config)
        return make

    found = [Variant("ort-cpu fp32 (ref)", ort_maker(["CPUExecutionProvider"]), "sface.onnx"),
             Variant("ort-cpu int8", ort_maker(["CPUExecutionProvider"]), "sface.int8.onnx")]
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        found.append(Variant("ort-cuda fp32", ort_maker(["CUDAExecutionProvider"]), "sface.onnx"))
    if "TensorrtExecutionProvider" in available:
        found.append(Variant("ort-trt fp16", ort_maker(["TensorrtExecutionProvider"]), "sface.onnx"))
        found.append(Variant("ort-trt int8", ort_maker(["TensorrtExecutionProvider"]),
                             "sface.int8.onnx"))
    if not str(info["tensorrt"]).startswith("missing") and not str(info["cuda"]).startswith("unavailable"):
        found += [Variant("trt fp32", trt_maker("fp32"), "sface.onnx"),
                  Variant("trt fp16", trt_maker("fp16"), "sface.onnx"),
                  Variant("trt int8 qdq", trt_maker("int8", "qdq"), "sface.int8.onnx"),
                  Variant("trt int8 calib", trt_maker("int8", "calibrator"), "sface.int8.onnx")]
    return found


def write_calibration(pack: PackedCheck, calib_dir: Path, embedder: Embedder) -> None:
    """The embedder's preprocessed calibration inputs as <calib_dir>/sface.calib.npy (N, 3, 112, 112)."""
    p = embedder.preprocess
    blob = cv2.dnn.blobFromImages(list(pack.calib_rgb), 1.0 / p.std, mean=(p.mean,) * 3,
                                  swapRB=p.color == "BGR")
    calib_dir.mkdir(parents=True, exist_ok=True)
    np.save(calib_dir / "sface.calib.npy", blob.astype(np.float32))


def throughput(fn: Callable[[], object], items: int, min_seconds: float = 0.5) -> float:
    """Items per second over repeated calls after two warm-ups (at least 3 timed calls)."""
    fn()
    fn()
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < min_seconds:
        fn()
        calls += 1
    return items * calls / (time.perf_counter() - started)


def measure(variant: Variant, pack: PackedCheck, ref: dict[str, np.ndarray] | None,
            speed: bool) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    spec = load_registry().model("sface")
    assert spec.preprocess is not None and spec.embedding_dim is not None
    nets = {role: variant.make(f"mtcnn-{role}.onnx", role) for role in ("pnet", "rnet", "onet")}
    detector = MtcnnDetector(nets["pnet"], nets["rnet"], nets["onet"],
                             DetectorConfig(max_batch=DET_MAX_BATCH))
    embedder = Embedder(variant.make(variant.embedder_file, "embedder"), spec.preprocess, spec.embedding_dim,
                        EMB_MAX_BATCH)
    frames_rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in pack.frames_bgr]
    out = {"emb": embedder.embed(pack.crops_rgb)}
    boxes = [detector.detect(f).xyxy for f in frames_rgb]
    row: dict[str, object] = {"backend": variant.label, "det_faces": sum(len(b) for b in boxes)}
    scores = row_cosines(out["emb"][pack.pairs[:, 0]], out["emb"][pack.pairs[:, 1]])
    row["lfw_acc"] = kfold_accuracy(scores, pack.pairs[:, 2], pack.pair_folds)
    if ref is not None:
        cos = row_cosines(out["emb"], ref["emb"])
        row["emb_cos_min"], row["emb_cos_mean"] = float(cos.min()), float(cos.mean())
        agreement = [box_agreement(r, b) for r, b in zip(ref["boxes"], boxes, strict=True)]
        row["det_max_px"] = max(px for _, px in agreement)
        row["det_unmatched"] = sum(n for n, _ in agreement)
    out["boxes"] = boxes  # type: ignore[assignment]
    if speed:
        for batch in (1, 8, 32):
            crops = pack.crops_rgb[np.arange(batch) % len(pack.crops_rgb)]
            row[f"sface_b{batch}_ips"] = throughput(functools.partial(embedder.embed, crops), batch)
        row["det720p_fps"] = throughput(lambda: detector.detect(frames_rgb[0]), 1)
    return row, out


def gates(row: dict[str, object], ref_acc: float, int8: bool) -> str:
    """Pass/fail against the issue's criteria, as a short string for the table."""
    failed = []
    if "emb_cos_min" in row and float(row["emb_cos_min"]) < 0.99:  # type: ignore[arg-type]
        failed.append("cos")
    if "det_max_px" in row and (float(row["det_max_px"]) > 4 or row.get("det_unmatched")):  # type: ignore[arg-type]
        failed.append("boxes")
    if int8 and ref_acc - float(row["lfw_acc"]) > 0.003:  # type: ignore[arg-type]
        failed.append("lfw")
    return "FAIL " + ",".join(failed) if failed else "pass"


def format_row(row: dict[str, object]) -> dict[str, object]:
    fmt = {"emb_cos_min": "{:.4f}", "emb_cos_mean": "{:.4f}", "det_max_px": "{:.1f}", "lfw_acc": "{:.2%}",
           "lfw_delta": "{:+.2f}", "sface_b1_ips": "{:.0f}", "sface_b8_ips": "{:.0f}",
           "sface_b32_ips": "{:.0f}",
           "det720p_fps": "{:.1f}"}
    return {k: fmt[k].format(v) if k in fmt and isinstance(v, float | int) else v for k, v in row.items()}


def first_folds(pack: PackedCheck, folds: int) -> PackedCheck:
    """The pack restricted to its first `folds` folds, keeping only the crops those pairs use."""
    keep = pack.pair_folds < folds
    pairs = pack.pairs[keep]
    used, inverse = np.unique(pairs[:, :2], return_inverse=True)
    remapped = np.column_stack([inverse.reshape(-1, 2), pairs[:, 2]]).astype(np.int32)
    return dataclasses.replace(pack, crops_rgb=pack.crops_rgb[used], pairs=remapped,
                               pair_folds=pack.pair_folds[keep])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, default=Path(".gpucheck"))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "facefleet-gpucheck")
    parser.add_argument("--out", type=Path, default=None, help="JSON results")
    parser.add_argument("--only", default="", help="comma-separated labels to run (default: all available)")
    parser.add_argument("--no-speed", action="store_true", help="skip the throughput columns")
    parser.add_argument("--folds", type=int, default=0, help="use only the first N packed folds (0: all)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    info = probe()
    for key, value in info.items():
        print(f"{key}: {value}")
    pack = load_pack(args.pack, args.work / "models")
    if args.folds:
        pack = first_folds(pack, args.folds)
    folds = len(np.unique(pack.pair_folds))
    print(f"pack: {len(pack.pairs)} LFW pairs in {folds} fold(s), {len(pack.crops_rgb)} crops, "
          f"{len(pack.frames_bgr)} 720p frames, {len(pack.calib_rgb)} calibration crops")
    spec = load_registry().model("sface")
    assert spec.preprocess is not None
    write_calibration(pack, args.work / "calib", Embedder(None, spec.preprocess, 128))  # type: ignore[arg-type]
    chosen = [v for v in variants(pack.model_dir, args.work / "engines", args.work / "calib", info)
              if not args.only or v.label in args.only.split(",") or "(ref)" in v.label]
    rows: list[dict[str, object]] = []
    ref: dict[str, np.ndarray] | None = None
    ref_acc = 0.0
    for variant in chosen:
        started = time.perf_counter()
        try:
            row, out = measure(variant, pack, ref, speed=not args.no_speed)
        except Exception as exc:  # noqa: BLE001 - one broken backend must not hide the others' numbers
            log.exception("%s failed", variant.label)
            note = f"{type(exc).__name__}: {exc}"[:120]
            rows.append({"backend": variant.label, "gates": "ERROR", "note": note})
            continue
        if ref is None:
            ref, ref_acc = out, float(row["lfw_acc"])  # type: ignore[arg-type]
        row["lfw_delta"] = 100 * (float(row["lfw_acc"]) - ref_acc)  # type: ignore[arg-type]
        row["gates"] = gates(row, ref_acc, "int8" in variant.label)
        row["note"] = f"{time.perf_counter() - started:.0f}s (engine builds included)"
        rows.append(row)
        log.info("%s done", variant.label)
    if str(info["tensorrt"]).startswith("missing"):
        rows.append({"backend": "trt *", "gates": "SKIP", "note": "tensorrt not importable here"})
    print(format_table([format_row(r) for r in rows], COLUMNS))
    if args.out:
        args.out.write_text(json.dumps({"info": info, "folds": folds, "pairs": len(pack.pairs), "rows": rows},
                                       indent=2, default=str))
    return 0 if all(r.get("gates") in ("pass", "SKIP") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
