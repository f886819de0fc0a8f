"""`facefleet eval lfw`: the standard 10-fold LFW verification with the project's own detector, aligner, embedder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from models.artifacts import sha256_file
from models.cohort import pipeline_cohort
from models.engines.ort_providers import OnnxRuntimeConfig
from models.eval.eval_openset import evaluate_open_set, format_open_set
from models.eval.lfw import LfwPairs, cache_key, crops_for_images, read_pairs
from models.eval.openset_tracks import NamingRules, evaluate_tracks, format_tracks, lfw_tracks
from models.eval.verification import VerificationMetrics, kfold_verification
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import default_cache_dir


@dataclass(frozen=True)
class LfwReport:
    metrics: VerificationMetrics
    pairs: int
    images: int
    not_found: int
    pairs_with_fallback: int
    seconds: float


def lfw_crops(
    pipeline: FacePipeline, lfw_dir: Path, folds: int | None, tag: str
) -> tuple[LfwPairs, np.ndarray, np.ndarray]:
    """Pairs, aligned crops of their images and found flags; crops are cached per detector setup (its config
    and the sha256 of the files its nets run from, so a re-converted or re-quantized net detects afresh)."""
    pairs = read_pairs(lfw_dir, folds)
    nets = [sha256_file(path) for net, path in sorted(pipeline.model_paths.items()) if net.startswith("mtcnn")]
    key = cache_key(lfw_dir.resolve(), len(pairs.images), pipeline.detector.config, tag, *nets)
    crops, found = crops_for_images(
        pipeline.detector, pairs.images, default_cache_dir() / "lfw" / f"{key}.npz", desc="LFW detect+align"
    )
    return pairs, crops, found


def score_pairs(pairs: LfwPairs, embeddings: np.ndarray) -> np.ndarray:
    scores: np.ndarray = np.einsum("ij,ij->i", embeddings[pairs.index_a], embeddings[pairs.index_b])
    return scores


def evaluate(pipeline: FacePipeline, lfw_dir: Path, folds: int | None = None, tag: str = "") -> LfwReport:
    start = time.perf_counter()
    pairs, crops, found = lfw_crops(pipeline, lfw_dir, folds, tag)
    embeddings = pipeline.embedder.embed(crops)
    scores = score_pairs(pairs, embeddings)
    metrics = kfold_verification(scores, pairs.same, pairs.fold)
    fallback = int((~found[pairs.index_a] | ~found[pairs.index_b]).sum())
    return LfwReport(
        metrics, len(pairs.same), len(pairs.images), int((~found).sum()), fallback, time.perf_counter() - start
    )


def plot_roc(reports: dict[str, LfwReport], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for label, report in reports.items():
        m = report.metrics
        ax.plot(np.maximum(m.fpr, 1e-4), m.tpr, label=f"{label}: {100 * m.accuracy:.2f}%")
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(0.8, 1.0)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("LFW verification (10-fold pairs)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_report(label: str, report: LfwReport) -> str:
    m = report.metrics
    return (
        f"{label}: accuracy {100 * m.accuracy:.2f}% +- {100 * m.accuracy_std:.2f}  "
        f"threshold {m.threshold:.3f}  TAR@FAR=1e-3 {100 * m.tar_at_far[1e-3]:.2f}%  "
        f"TAR@FAR=1e-2 {100 * m.tar_at_far[1e-2]:.2f}%  | {report.pairs} pairs, {report.images} images, "
        f"no face found in {report.not_found} (centre crop used; {report.pairs_with_fallback} pairs affected)  "
        f"[{report.seconds:.0f} s]"
    )


def run_lfw_eval(
    lfw_dir: Path,
    precisions: tuple[Literal["fp32", "int8"], ...] = ("fp32",),
    model_dir: Path | None = None,
    plot: Path | None = None,
    limit_folds: int = 10,
    flip_average: bool = False,
    rules: NamingRules | None = None,
) -> dict[str, LfwReport]:
    """Evaluate the whole pipeline (detector and embedder) at each precision; one ROC plot for all.

    With `rules` (the agent's naming rules) the open-set identification figures of single photos
    (`models.eval.eval_openset`, at the fixed threshold) and of tracks under both rules
    (`models.eval.openset_tracks`, when the impostor cohort exists) follow each precision's line.
    """
    reports: dict[str, LfwReport] = {}
    for precision in precisions:
        config = PipelineConfig(
            model_dir=model_dir, flip_average=flip_average, backend=OnnxRuntimeConfig(precision=precision)
        )
        pipeline = FacePipeline.from_config(config)
        label = f"{config.embedder_model} {precision}{' +flip' if flip_average else ''}"
        reports[label] = evaluate(pipeline, lfw_dir, None if limit_folds >= 10 else limit_folds, tag=precision)
        print(format_report(label, reports[label]), flush=True)
        if rules is not None:
            open_set = evaluate_open_set(pipeline, lfw_dir, rules.fixed.threshold, tag=precision)
            print("\n".join(format_open_set(label, open_set)), flush=True)
            cohort = pipeline_cohort(pipeline, model_dir)
            if cohort is not None:
                tracks = lfw_tracks(pipeline, lfw_dir, tag=precision)
                sizes = evaluate_tracks(tracks, cohort, rules)
                print("\n".join(format_tracks(label, tracks, sizes, rules.stranger_track_far)), flush=True)
    if len(reports) == 2:
        (a, ra), (b, rb) = reports.items()
        print(f"{b} - {a}: {100 * (rb.metrics.accuracy - ra.metrics.accuracy):+.2f} points")
    if plot is not None:
        plot_roc(reports, plot)
        print(f"ROC curve written to {plot}")
    return reports
