"""Build (or confirm cached) TensorRT engines for every net of the pipeline, ahead of the first start.

Run once on the device after provisioning or a model update, so the agent's first start does not spend
minutes building under its systemd start timeout. The engines land in the same cache the backend reads.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from models.artifacts import verified_model_path
from models.backend import TensorRTConfig
from models.registry import default_model_dir

log = logging.getLogger(__name__)
NETS = ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")


def build_all(config: TensorRTConfig, model_dir: Path | None = None, embedder: str = "sface") -> list[Path]:
    """Engines for the three MTCNN nets (FP16 when INT8 is asked and no Q/DQ copy exists) and the embedder."""
    from models.tensorrt_backend import TensorRTBackend

    model_dir = model_dir or default_model_dir()
    built = []
    for model_id in (*NETS, embedder):
        precision = config.precision
        int8_file = model_dir / f"{model_id}.int8.onnx"
        if precision == "int8" and not int8_file.exists() and model_id in NETS:
            log.info("%s has no INT8 copy: building FP16", model_id)
            precision = "fp16"
        artifact: Literal["fp32", "int8"] = "int8" if precision == "int8" else "fp32"
        path = verified_model_path(model_dir, model_id, artifact)
        with TensorRTBackend(path, config.model_copy(update={"precision": precision})) as backend:
            built.append(backend.engine_path)
    return built
