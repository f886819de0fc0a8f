"""The CUDA path: the trunk runs in torch on the GPU and the whole network can be fine-tuned there."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hub.training.config import TrainingConfig
from hub.training.dataset import split_people
from hub.training.retrain import max_abs_diff_to_onnx
from hub.training.trainer import Trainer
from models.prepare.onnx_to_torch import export_onnx, load_onnx_embedder


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch sees no CUDA device")
def test_full_network_fine_tuning_on_cuda(enrolled, sface_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = TrainingConfig(
        device="cuda", max_steps=60, eval_every=20, patience_steps=60, trainable_layers=1000, augmented_copies=2
    )
    split = split_people(enrolled, config.held_out_fraction)
    module = load_onnx_embedder(sface_path)
    trainer = Trainer(module, sface_path, split, config)
    assert trainer.device.type == "cuda" and trainer.trunk.session is None
    result = trainer.fit()
    assert result.steps == 60 and result.best.accuracy >= result.initial.accuracy
    exported = export_onnx(module, tmp_path / "cuda.onnx")
    assert max_abs_diff_to_onnx(module, exported, split.held_out_crops[:4]) < 1e-3
