"""One retraining run end to end: split, convert, fine-tune, export, quantize, gate, and (if it passes) release.

Inputs are explicit (the enrolled people's crops, the current model files, an LFW benchmark) so the hub's
HTTP layer, a CLI or a test can all drive it; nothing here knows about FastAPI. A released model is a folder
of unsigned files (`hub.training.release`); the hub's artifact store signs what it registers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from facefleet.gallery import build_gallery
from hub.training.config import TrainingConfig
from hub.training.context import CurrentModel, RetrainContext
from hub.training.dataset import PersonSamples, TrainingSplit, as_people, split_people, to_pixels
from hub.training.evaluation import LfwBenchmark, held_out_identification, onnx_embed_fn
from hub.training.gate import ModelScores, decide
from hub.training.progress import (
    CandidateFiles,
    ModelFigures,
    Precision,
    ProgressCallback,
    TrainingCancelled,
    TrainingPhase,
    TrainingProgress,
    TrainingReport,
)
from hub.training.release import new_version, write_release
from hub.training.trainer import Trainer, TrainingResult
from models.prepare.onnx_to_torch import OnnxEmbedder, export_onnx, load_onnx_embedder
from models.prepare.quantize import quantize_embedder

log = logging.getLogger(__name__)

MAX_CONVERSION_ERROR = 1e-3  # raw embedding units (values are about +-2); float32 reordering gives ~1e-5


def max_abs_diff_to_onnx(module: OnnxEmbedder, onnx_path: Path, crops_rgb: np.ndarray) -> float:
    """Largest |torch - onnxruntime| over the raw outputs (N, D) of a few crops."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    device = next(module.parameters()).device
    with torch.no_grad():
        ours = module.eval()(to_pixels(crops_rgb, device)).cpu().numpy()
    theirs = session.run(None, {module.input_name: to_pixels(crops_rgb, torch.device("cpu")).numpy()})[0]
    return float(np.abs(ours - theirs).max())


def _scores(path: Path, current: CurrentModel, split: TrainingSplit, lfw: LfwBenchmark | None) -> ModelScores:
    embed = onnx_embed_fn(path, current.preprocess, current.embedding_dim)
    held_out = held_out_identification(
        embed, split.train_crops, split.train_labels, split.held_out_crops, split.held_out_labels
    )
    return ModelScores(held_out, None if lfw is None else lfw.accuracy(embed))


def _figures(scores: ModelScores) -> ModelFigures:
    return ModelFigures(
        held_out_accuracy=scores.held_out.accuracy,
        held_out_mean_margin=scores.held_out.mean_margin,
        lfw_accuracy=scores.lfw_accuracy,
    )


def _calibration_crops(split: TrainingSplit, limit: int, seed: int) -> np.ndarray:
    crops = np.concatenate([split.train_crops, split.held_out_crops])
    return crops[np.random.default_rng(seed).permutation(len(crops))[:limit]]


def _announce(
    on_progress: ProgressCallback | None, phase: TrainingPhase, result: TrainingResult, max_steps: int, start: float
) -> None:
    if on_progress is not None:
        on_progress(
            TrainingProgress(
                phase=phase,
                step=result.steps,
                max_steps=max_steps,
                held_out_accuracy=result.best.accuracy,
                best_step=result.best_step,
                best_held_out_accuracy=result.best.accuracy,
                elapsed_s=time.perf_counter() - start,
            )
        )


@dataclass(frozen=True)
class _Candidate:
    version: str
    directory: Path
    fp32: Path
    int8: Path
    export_diff: float


def _export_candidate(
    backbone: OnnxEmbedder, split: TrainingSplit, config: TrainingConfig, context: RetrainContext
) -> _Candidate:
    """FP32 export (checked against the torch module) and its INT8 copy, in `<out>/<version>/`."""
    current = context.current
    work = context.output_dir / f"candidate-{time.strftime('%Y%m%dT%H%M%S')}"
    exported = export_onnx(backbone, work / "model.onnx", current.preprocess.size)
    version = new_version(current.registry_model, exported)
    work = work.rename(context.output_dir / version)
    fp32 = (work / "model.onnx").rename(work / f"{version}.onnx")
    export_diff = max_abs_diff_to_onnx(backbone, fp32, split.held_out_crops[:8])
    if export_diff > MAX_CONVERSION_ERROR:
        raise RuntimeError(f"the exported {fp32.name} differs from the trained module by {export_diff:.2e}")
    int8 = quantize_embedder(
        fp32,
        work / f"{version}.int8.onnx",
        _calibration_crops(split, config.calibration_max_crops, config.seed),
        current.preprocess,
    )
    return _Candidate(version, work, fp32, int8, export_diff)


def _release_gallery(
    people: Sequence[PersonSamples], candidate: _Candidate, current: CurrentModel, cohort_crops: np.ndarray | None
) -> Path:
    """The gallery of every enrolled person embedded by the new model, with the impostor cohort embedded by
    it too (when the hub has one), written beside its files."""
    embed = onnx_embed_fn(candidate.fp32, current.preprocess, current.embedding_dim)
    crops = np.concatenate([p.crops_rgb for p in people])
    labels = np.concatenate([np.full(len(p.crops_rgb), i) for i, p in enumerate(people)])
    cohort = embed(cohort_crops) if cohort_crops is not None and len(cohort_crops) else None
    gallery = build_gallery(
        candidate.version,
        candidate.version,
        [p.person_id for p in people],
        [p.name or p.person_id for p in people],
        embed(crops),
        labels,
        cohort=cohort,
    )
    return write_release(candidate.directory, candidate.version, candidate.fp32, candidate.int8, gallery).gallery


def retrain(
    people: Sequence[PersonSamples | tuple[str, np.ndarray]],
    config: TrainingConfig,
    context: RetrainContext,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> TrainingReport:
    """Fine-tune the current model on `people`, gate it, release it if it passes; report either way.

    Raises NotEnoughPeopleError before any work, TrainingCancelled when `cancel` is set.
    """
    start, current = time.perf_counter(), context.current
    people = as_people(people)
    split = split_people(
        people, config.held_out_fraction, config.min_people, config.min_samples_per_person, config.seed
    )
    backbone = load_onnx_embedder(current.fp32_path)
    conversion_diff = max_abs_diff_to_onnx(backbone, current.fp32_path, split.held_out_crops[:8])
    if conversion_diff > MAX_CONVERSION_ERROR:
        raise RuntimeError(f"the torch copy of {current.fp32_path.name} differs from ONNX by {conversion_diff:.2e}")
    trainer = Trainer(backbone, current.fp32_path, split, config)
    result = trainer.fit(on_progress, cancel)
    _announce(on_progress, "export", result, config.max_steps, start)
    candidate = _export_candidate(backbone, split, config, context)
    if cancel is not None and cancel.is_set():
        raise TrainingCancelled("cancelled after training")
    _announce(on_progress, "gate", result, config.max_steps, start)
    models: dict[Precision, tuple[Path | None, Path]] = {
        "fp32": (current.fp32_path, candidate.fp32),
        "int8": (current.int8_path, candidate.int8),
    }
    before = {k: _scores(old, current, split, context.lfw) for k, (old, _) in models.items() if old is not None}
    after = {k: _scores(new, current, split, context.lfw) for k, (_, new) in models.items()}
    decision = decide(before, after, config.gate)
    gallery = None
    if decision.released:
        _announce(on_progress, "release", result, config.max_steps, start)
        gallery = _release_gallery(people, candidate, current, context.cohort_crops)
    report = TrainingReport(
        version=candidate.version,
        released=decision.released,
        reasons=decision.reasons,
        checks=decision.checks,
        people=split.people,
        train_samples=len(split.train_labels),
        held_out_samples=len(split.held_out_labels),
        lfw_pairs=0 if context.lfw is None else len(context.lfw.same),
        device=str(trainer.device),
        steps=result.steps,
        best_step=result.best_step,
        stopped_early=result.stopped_early,
        feature_seconds=result.feature_seconds,
        training_seconds=result.seconds,
        total_seconds=time.perf_counter() - start,
        conversion_max_abs_diff=conversion_diff,
        export_max_abs_diff=candidate.export_diff,
        before={k: _figures(v) for k, v in before.items()},
        after={k: _figures(v) for k, v in after.items()},
        files=CandidateFiles(fp32=candidate.fp32, int8=candidate.int8, gallery=gallery),
    )
    (candidate.directory / "report.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    log.info("retraining %s: %s", candidate.version, "released" if report.released else "; ".join(report.reasons))
    return report
