"""Every pipeline and backend config key is documented in the top-level README's reference tables."""

from __future__ import annotations

import re

from pydantic import BaseModel

from models.detect.lanes import CpuExecution
from models.detect.mtcnn import DetectorConfig
from models.engines.backend import TensorRTConfig, TorchConfig
from models.engines.ort_providers import OnnxRuntimeConfig, OrtTensorRTOptions
from models.engines.tensorrt.trt_profiles import PnetProfileConfig
from models.pipeline import PipelineConfig
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
SECTION = README[README.index("## Pipeline configuration") : README.index("## TensorRT and the Jetson")]


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    return [f"{prefix}{name}" for name in model.model_fields if name != "type"]


def test_every_pipeline_key_is_documented() -> None:
    keys = [k for k in _keys(PipelineConfig) if k != "detector"] + _keys(DetectorConfig, "detector.")
    keys += _keys(CpuExecution, "detector.cpu.")
    keys += _keys(OnnxRuntimeConfig) + _keys(OrtTensorRTOptions) + _keys(TorchConfig)
    keys += [k for k in _keys(TensorRTConfig) if k != "pnet"] + _keys(PnetProfileConfig, "pnet.")
    missing = [key for key in keys if not re.search(rf"`{re.escape(key)}`", SECTION)]
    assert not missing
