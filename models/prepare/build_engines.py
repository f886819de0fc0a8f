"""Build (or confirm cached) TensorRT engines for every net of the pipeline, ahead of the first start.

Run once on the device after provisioning or a model update, so the agent's first start does not spend
minutes building under its systemd start timeout. The engines land in the same cache the backend reads, and
are planned from the same `PipelineConfig` the agent loads (the detector's pyramid and batch sizes, the
backend block), so their cache keys are the ones the agent asks for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from models.artifacts import verified_model_path
from models.engines.backend import TensorRTConfig
from models.pipeline import PipelineConfig, detector_pyramid
from models.registry import default_model_dir

log = logging.getLogger(__name__)
NETS = ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")


def build_all(pipeline: PipelineConfig) -> list[Path]:
    """Engines for the three MTCNN nets (FP16 when INT8 is asked and no Q/DQ copy exists) and the embedder,
    for whichever of `backend` / `embedder_backend` is TensorRT. Returns the engine files."""
    from models.engines.tensorrt.tensorrt_backend import TensorRTBackend

    model_dir = pipeline.model_dir or default_model_dir()
    pyramid = detector_pyramid(pipeline.detector)
    jobs = [(m, pipeline.backend) for m in NETS] + [(pipeline.embedder_model, pipeline.embedder)]
    built = []
    for model_id, config in jobs:
        if not isinstance(config, TensorRTConfig):
            continue
        if config.precision == "int8" and not (model_dir / f"{model_id}.int8.onnx").exists() and model_id in NETS:
            log.info("%s has no INT8 copy: building FP16", model_id)
            config = config.model_copy(update={"precision": "fp16"})
        path = verified_model_path(model_dir, model_id, "int8" if config.precision == "int8" else "fp32")
        with TensorRTBackend(path, config, pyramid) as backend:
            built.append(backend.engine_path)
    if not built:
        raise ValueError("no TensorRT backend in this pipeline config: set pipeline.backend: {type: tensorrt}")
    return built
