"""INT8 copies of the networks, static quantization calibrated on real faces, for two kinds of engine.

- `<id>.int8.onnx` for TensorRT: Q/DQ graphs with symmetric S8 activations and S8 per-channel weights
  (zero point 0), what TensorRT accepts for explicit quantization.
- `<id>.int8cpu.onnx` for onnxruntime on an x86 CPU: U8 activations (asymmetric) with S8 per-channel
  weights, `reduce_range` off, which is what its VNNI kernels want, quantized from the FP32 graph rewritten
  into forms those kernels run without leaving INT8 (`models.prepare.cpu_int8_graph`). The symmetric S8/S8
  copy ran SFace at 0.6x its FP32 speed on the 2-core AVX-512 CPU; see `CPU_RECIPE` for what was measured.
Calibration uses LFW people who appear in no evaluation pair, so the LFW figures of the INT8 models are
not flattered by their own calibration data.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from tqdm import tqdm

from models.artifacts import load_manifest, record_artifact, verified_model_path
from models.detect.lanes import CpuExecution
from models.detect.mtcnn import DetectorConfig
from models.embed.embedder import embedder_blob
from models.engines.backend import Backend
from models.eval.lfw import calibration_images, crops_for_images
from models.imageio import load_image
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import ArtifactKind, Preprocess, artifact_name, default_model_dir, load_registry

log = logging.getLogger(__name__)


class RecordingBackend:
    """Wraps a backend and keeps (a bounded number of) the inputs it sees: calibration data for free."""

    def __init__(self, inner: Backend, limit: int) -> None:
        self.inner, self.limit, self.name = inner, limit, inner.name
        self.seen: list[np.ndarray] = []

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        if sum(len(b) for b in self.seen) < self.limit:
            self.seen.append(batch.copy())
        return self.inner.run(batch)


def _batches(arrays: Sequence[np.ndarray], batch: int) -> Iterator[np.ndarray]:
    """Re-chunk recorded inputs: same-shaped ones are concatenated into batches of `batch`."""
    by_shape: dict[tuple[int, ...], list[np.ndarray]] = {}
    for a in arrays:
        by_shape.setdefault(a.shape[1:], []).append(a)
    for group in by_shape.values():
        stacked = np.concatenate(group)
        for i in range(0, len(stacked), batch):
            yield stacked[i : i + batch]


@dataclass(frozen=True)
class Int8Recipe:
    """How one INT8 copy is made. op_types: the op types quantized (None: all onnxruntime can); cpu_forms:
    rewrite the FP32 graph first (`cpu_int8_graph.cpu_int8_forms`); tag: recorded in the manifest, bumped
    when the recipe's output changes, so that `facefleet models quantize --if-stale` quantizes again."""

    quant_format: Literal["qdq", "qoperator"]
    activations: Literal["s8_symmetric", "u8"]
    op_types: tuple[str, ...] | None = None
    cpu_forms: bool = False
    tag: str = ""


TENSORRT_RECIPE = Int8Recipe("qdq", "s8_symmetric", tag="s8s8-qdq/1")
# Measured on a 2-core AVX-512 VNNI CPU (speed-ups over FP32, interleaved, one thread; SFace at batch 1 / 16,
# LFW with FP32 at 99.53%; R-Net/O-Net inside the detector, P-Net FP32, faces on 8 clip frames):
#   SFace S8/S8 Q/DQ (the TensorRT copy): 0.60x / 0.60x, LFW 99.48%
#   SFace U8/S8 Q/DQ, every op: 1.94x / 2.11x, LFW 99.50%, cosine to FP32 0.987; later, idle: 1.52x / 1.88x
#   SFace U8/S8 Q/DQ of the rewritten graph (cpu_forms), every op: 2 Q/DQ nodes left in FP32 (54 before);
#     `facefleet bench models` 2.39x / 3.60x and 2.38x / 3.68x, LFW 99.43% (int8 pipeline, as before); interleaved
#     with the plain graph's copy on a loaded machine: 2.64x / 3.41x against its 1.88x / 2.32x  <- CPU_RECIPE
#     (its products as Mul instead of 1x1 depthwise Conv: 1.17x slower; as QOperator: no faster)
#   SFace U8/S8 QOperator: 2.26x / 3.05x, LFW 99.37%, cosine 0.961: the quantizer drops the Clip(max=0) of
#     the rewritten PReLU as if the quantized range did its work, which it does not here; without Clip
#     quantized: 1.67x / 2.20x, cosine 0.987
#   SFace U8/S8 Q/DQ of Conv/Gemm only: 1.43x / 1.42x
#   R-Net + O-Net U8/S8 Q/DQ: detector 1.17x at 640x360, 1.10x at 1280x720 (56 / 58 and 59 / 60 faces);
#     QOperator 1.33x but half the faces lost; QOperator of Conv/Gemm only 1.05x
#   P-Net U8/S8: 0.56-0.70x in every form, hence `cpu_int8: false` for it in the registry
CPU_RECIPE = Int8Recipe("qdq", "u8", cpu_forms=True, tag="u8s8-qdq-cpuforms/2")
INT8_KINDS: dict[str, Int8Recipe] = {"int8": TENSORRT_RECIPE, "int8cpu": CPU_RECIPE}


def quantize_model(
    fp32_path: Path, out_path: Path, batches: Sequence[np.ndarray], recipe: Int8Recipe = TENSORRT_RECIPE
) -> Path:
    """Static INT8 quantization of a one-input ONNX model on the given calibration batches."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {input_name: item}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        source = _cpu_forms_copy(fp32_path, Path(tmp) / "forms.onnx") if recipe.cpu_forms else fp32_path
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        symmetric = recipe.activations == "s8_symmetric"
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ if recipe.quant_format == "qdq" else QuantFormat.QOperator,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=False,
            calibrate_method=CalibrationMethod.MinMax,
            op_types_to_quantize=list(recipe.op_types) if recipe.op_types else None,
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
        )
    return out_path


def _cpu_forms_copy(fp32_path: Path, out_path: Path) -> Path:
    """`fp32_path` rewritten by `cpu_int8_forms` (the same values, up to float rounding) at `out_path`."""
    import onnx

    from models.prepare.cpu_int8_graph import cpu_int8_forms

    model = onnx.load(str(fp32_path))
    log.info("%s: CPU INT8 forms %s", fp32_path.name, cpu_int8_forms(model.graph))
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return out_path


def quantize_embedder(
    fp32_path: Path,
    out_path: Path,
    crops_rgb: np.ndarray,
    preprocess: Preprocess,
    batch: int = 32,
    recipe: Int8Recipe = TENSORRT_RECIPE,
) -> Path:
    """INT8 embedder calibrated on aligned crops (N, S, S, 3) RGB; used by the hub after retraining too."""
    blob = embedder_blob(crops_rgb, preprocess)
    return quantize_model(fp32_path, out_path, [blob[i : i + batch] for i in range(0, len(blob), batch)], recipe)


def quantize_all(
    lfw_dir: Path, model_dir: Path | None = None, calibration_images_count: int = 300, embedder_model: str = "sface"
) -> list[Path]:
    """Both INT8 copies (TensorRT, CPU) of the MTCNN nets and the embedder; calibration from LFW people
    outside pairs.txt. A net whose registry entry says `cpu_int8: false` gets no CPU copy."""
    model_dir = model_dir or default_model_dir()
    images = calibration_images(lfw_dir, calibration_images_count)
    # One lane on whole pyramid levels: the nets see their inputs in one order, so calibration repeats.
    one_lane = DetectorConfig(cpu=CpuExecution(lanes=1, pnet_strip_cells=0))
    pipeline = FacePipeline.from_config(
        PipelineConfig(model_dir=model_dir, embedder_model=embedder_model, detector=one_lane)
    )
    det = pipeline.detector
    recorders = {
        role: RecordingBackend(getattr(det, role), limit)
        for role, limit in (("pnet", 600), ("rnet", 4096), ("onet", 2048))
    }
    det.pnet, det.rnet, det.onet = recorders["pnet"], recorders["rnet"], recorders["onet"]
    for path in tqdm(images[:100], desc="record MTCNN inputs", unit="img"):
        det.detect(cv2.cvtColor(load_image(path), cv2.COLOR_BGR2RGB))
    det.pnet, det.rnet, det.onet = (recorders[r].inner for r in ("pnet", "rnet", "onet"))
    written = []
    for role, rec in recorders.items():
        batches = list(_batches(rec.seen, 1 if role == "pnet" else 64))
        note = f"{sum(len(b) for b in batches)} inputs from {min(100, len(images))} LFW images"
        written += _quantize_both(model_dir, f"mtcnn-{role}", batches, note)
    crops, found = crops_for_images(det, images, desc="calibration faces")
    spec = load_registry().model(embedder_model)
    assert spec.preprocess is not None
    blob = embedder_blob(crops[found], spec.preprocess)
    note = f"{int(found.sum())} aligned faces of LFW people outside pairs.txt"
    written += _quantize_both(model_dir, embedder_model, [blob[i : i + 32] for i in range(0, len(blob), 32)], note)
    return written


def _quantize_both(model_dir: Path, model_id: str, batches: list[np.ndarray], calibration: str) -> list[Path]:
    """The TensorRT copy and (if the registry says it pays) the CPU copy of one model, recorded in the
    manifest."""
    written = []
    for kind in _int8_kinds(model_id):
        out = model_dir / artifact_name(model_id, kind)
        quantize_model(verified_model_path(model_dir, model_id), out, batches, INT8_KINDS[kind])
        record_artifact(
            model_dir,
            out.name,
            model=model_id,
            precision="int8",
            recipe=INT8_KINDS[kind].tag,
            engine={"int8": "tensorrt", "int8cpu": "onnxruntime-cpu"}[kind],
            calibration=calibration,
        )
        written.append(out)
    return written


def _int8_kinds(model_id: str) -> list[ArtifactKind]:
    return ["int8", "int8cpu"] if load_registry().model(model_id).cpu_int8 else ["int8"]


def stale_int8(model_dir: Path | None = None, embedder_model: str = "sface") -> list[str]:
    """The INT8 files `quantize_all` writes that are missing or were made by another version of their recipe
    (the manifest's `recipe` field); empty when all are current."""
    model_dir = model_dir or default_model_dir()
    manifest = load_manifest(model_dir)
    names = {
        artifact_name(model_id, kind): INT8_KINDS[kind].tag
        for model_id in ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", embedder_model)
        for kind in _int8_kinds(model_id)
    }
    return sorted(
        name
        for name, tag in names.items()
        if not (model_dir / name).exists() or manifest.get(name, {}).get("recipe") != tag
    )
