"""INT8 copies of the networks: static QDQ quantization calibrated on real faces.

The QDQ graphs follow what TensorRT accepts for explicit quantization: symmetric activations and
weights (zero point 0), per-channel weights. Calibration uses LFW people who appear in no evaluation pair,
so the LFW figures of the INT8 models are not flattered by their own calibration data.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from models.artifacts import record_artifact, verified_model_path
from models.backend import Backend
from models.embedder import embedder_blob
from models.imageio import load_image
from models.lfw import calibration_images, crops_for_images
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import Preprocess, artifact_name, default_model_dir, load_registry

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
            yield stacked[i:i + batch]


def quantize_model(fp32_path: Path, out_path: Path, batches: Sequence[np.ndarray]) -> Path:
    """Static QDQ INT8 quantization of a one-input ONNX model on the given calibration batches."""
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
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
    return out_path


def quantize_embedder(fp32_path: Path, out_path: Path, crops_rgb: np.ndarray, preprocess: Preprocess,
                      batch: int = 32) -> Path:
    """INT8 embedder calibrated on aligned crops (N, S, S, 3) RGB; used by the hub after retraining too."""
    blob = embedder_blob(crops_rgb, preprocess)
    return quantize_model(fp32_path, out_path, [blob[i:i + batch] for i in range(0, len(blob), batch)])


def quantize_all(lfw_dir: Path, model_dir: Path | None = None, calibration_images_count: int = 300,
                 embedder_model: str = "sface") -> list[Path]:
    """Quantize the MTCNN nets and the embedder; calibration from LFW people outside pairs.txt."""
    model_dir = model_dir or default_model_dir()
    images = calibration_images(lfw_dir, calibration_images_count)
    pipeline = FacePipeline.from_config(PipelineConfig(model_dir=model_dir, embedder_model=embedder_model))
    det = pipeline.detector
    recorders = {role: RecordingBackend(getattr(det, role), limit) for role, limit in
                 (("pnet", 600), ("rnet", 4096), ("onet", 2048))}
    det.pnet, det.rnet, det.onet = recorders["pnet"], recorders["rnet"], recorders["onet"]
    for path in tqdm(images[:100], desc="record MTCNN inputs", unit="img"):
        det.detect(cv2.cvtColor(load_image(path), cv2.COLOR_BGR2RGB))
    det.pnet, det.rnet, det.onet = (recorders[r].inner for r in ("pnet", "rnet", "onet"))
    written = []
    for role, rec in recorders.items():
        model_id = f"mtcnn-{role}"
        out = model_dir / artifact_name(model_id, "int8")
        batches = list(_batches(rec.seen, 1 if role == "pnet" else 64))
        quantize_model(verified_model_path(model_dir, model_id), out, batches)
        record_artifact(model_dir, out.name, model=model_id, precision="int8",
                        calibration=f"{sum(len(b) for b in batches)} inputs from {min(100, len(images))} LFW images")
        written.append(out)
    crops, found = crops_for_images(det, images, desc="calibration faces")
    spec = load_registry().model(embedder_model)
    assert spec.preprocess is not None
    out = model_dir / artifact_name(embedder_model, "int8")
    quantize_embedder(verified_model_path(model_dir, embedder_model), out, crops[found], spec.preprocess)
    record_artifact(model_dir, out.name, model=embedder_model, precision="int8",
                    calibration=f"{int(found.sum())} aligned faces of LFW people outside pairs.txt")
    written.append(out)
    return written
