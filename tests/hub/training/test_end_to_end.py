"""Retraining end to end on real LFW people: job -> training -> export -> INT8 -> gate -> release, and the
released model runs in the edge pipeline with the gallery built for it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from facefleet.gallery import Gallery
from hub.training.config import GateConfig, TrainingConfig
from hub.training.context import CurrentModel, RetrainContext
from hub.training.evaluation import lfw_folds_without, load_lfw_benchmark
from hub.training.jobs import FINISHED, TrainingJobs
from hub.training.progress import TrainingReport
from hub.training.service import submit_retrain
from models.engines.ort_providers import OnnxRuntimeConfig
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import default_model_dir, load_registry


@pytest.mark.slow
def test_retrain_gate_release(
    pipeline,
    enrolled,
    lfw_dir: Path,
    sface_path: Path,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    assert 0 in lfw_folds_without(lfw_dir, [p.person_id for p in enrolled])  # LFW fold 0: strangers only
    benchmark = load_lfw_benchmark(pipeline, lfw_dir, folds=[0], pairs_per_fold=100)
    spec = load_registry().model("sface")
    assert spec.preprocess is not None
    current = CurrentModel("sface", sface_path, default_model_dir() / "sface.int8.onnx", spec.preprocess, 128)
    context = RetrainContext(current, tmp_path / "models", benchmark)
    # Bounded for a test: few steps, one augmented copy. 100 LFW pairs resolve 1 point, so the LFW allowance
    # is 2 points here (the default 0.5 applies to the full folds of the CLI run).
    config = TrainingConfig(
        max_steps=30,
        eval_every=10,
        patience_steps=30,
        batch_size=32,
        augmented_copies=1,
        calibration_max_crops=48,
        cpu_threads=2,
        gate=GateConfig(max_lfw_drop_points=2.0),
    )
    jobs = TrainingJobs()
    released: list[TrainingReport] = []
    job_id = submit_retrain(jobs, enrolled, config, lambda: context, lambda report, _: released.append(report))
    phases = set()
    while (status := jobs.status(job_id)).state not in FINISHED:
        if status.progress is not None:
            phases.add(status.progress.phase)
        time.sleep(0.2)
    assert status.state == "done", status.error
    assert {"features", "training"} <= phases
    report = status.report
    assert report is not None
    print(report.model_dump_json(indent=2))
    assert report.conversion_max_abs_diff < 1e-3 and report.export_max_abs_diff < 1e-3
    assert report.people == 20 and report.lfw_pairs == 100 and report.steps <= 30
    assert len(report.checks) == 4  # held-out and LFW, for FP32 and INT8
    assert report.released, report.reasons
    assert released == [report]  # what the hub registers as a model and gallery pair
    assert report.files.gallery is not None
    gallery = Gallery.load(report.files.gallery)
    assert gallery.model_id == gallery.version == report.version
    assert gallery.person_ids == tuple(p.person_id for p in enrolled)
    for precision, model_path in (("fp32", report.files.fp32), ("int8", report.files.int8)):
        assert model_path.name == f"{report.version}{'' if precision == 'fp32' else '.int8'}.onnx"
        edge = FacePipeline.from_config(
            PipelineConfig(backend=OnnxRuntimeConfig(precision=precision)), model_path=model_path
        )
        vectors = edge.embedder.embed(enrolled[0].crops_rgb)
        assert vectors.shape == (len(enrolled[0].crops_rgb), 128)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        assert (gallery.match(vectors).person_index == 0).all()  # the person's own samples find them
