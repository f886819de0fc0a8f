"""`python -m hub.training train-lfw`: a retraining run on LFW people, for the figures in the README.

The enrolled people are taken from some folds of pairs.txt; LFW is evaluated on the other folds (people
the model never saw). The hub runs the same `retrain` on its library through `TrainingJobs`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from hub.training.config import TrainingConfig
from hub.training.context import CurrentModel, RetrainContext
from hub.training.evaluation import lfw_folds_without, load_lfw_benchmark
from hub.training.lfw_people import lfw_people_samples
from hub.training.retrain import retrain
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import default_model_dir, load_registry


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub.training")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train-lfw", help="fine-tune on people of one LFW fold, gate on the other folds")
    run.add_argument("--lfw-dir", type=Path, default=Path("../shared/data/lfw"))
    run.add_argument("--people-folds", type=int, nargs="+", default=[9], help="folds whose people are enrolled")
    run.add_argument("--people", type=int, default=30, help="at most this many people (>= --min-images each)")
    run.add_argument("--min-images", type=int, default=6)
    run.add_argument("--max-images", type=int, default=12, help="samples per person")
    run.add_argument("--lfw-folds", type=int, nargs="*", help="default: every fold without the enrolled people")
    run.add_argument("--lfw-pairs-per-fold", type=int, help="default: all 600")
    run.add_argument("--model-dir", type=Path, help="converted models (default: the model cache)")
    run.add_argument(
        "--out",
        type=Path,
        default=Path("var/training"),
        help="candidates and releases (unsigned files; the hub signs what it registers)",
    )
    run.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a TrainingConfig field, e.g. --set max_steps=500 --set margin=cosface",
    )
    return parser


def _config(pairs: list[str]) -> TrainingConfig:
    """`FIELD=VALUE` pairs; values are YAML scalars (numbers, true/false, words)."""
    if any("=" not in p for p in pairs):
        raise ValueError(f"--set expects FIELD=VALUE, got {pairs}")
    return TrainingConfig.model_validate({k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)})


def train_lfw(args: argparse.Namespace) -> int:
    config = _config(args.set)
    model_dir = args.model_dir or default_model_dir()
    pipeline = FacePipeline.from_config(PipelineConfig(model_dir=model_dir))
    people = lfw_people_samples(
        pipeline, args.lfw_dir, args.people_folds, args.people, args.min_images, args.max_images
    )
    folds = args.lfw_folds or lfw_folds_without(args.lfw_dir, [p.person_id for p in people])
    benchmark = load_lfw_benchmark(pipeline, args.lfw_dir, folds, args.lfw_pairs_per_fold)
    spec = load_registry().model("sface")
    assert spec.preprocess is not None and spec.embedding_dim is not None
    int8 = model_dir / "sface.int8.onnx"
    current = CurrentModel(
        "sface", model_dir / "sface.onnx", int8 if int8.exists() else None, spec.preprocess, spec.embedding_dim
    )
    context = RetrainContext(current, args.out, benchmark)
    print(
        f"{len(people)} people of folds {args.people_folds} ({sum(len(p.crops_rgb) for p in people)} samples); "
        f"LFW folds {folds} ({len(benchmark.same)} pairs)"
    )
    report = retrain(people, config, context)
    print(report.model_dump_json(indent=2))
    for line in report.checks:
        print(line)
    print(
        f"{'RELEASED' if report.released else 'NOT released'} {report.version}; trunk features "
        f"{report.feature_seconds:.0f} s, training {report.training_seconds:.0f} s ({report.steps} steps), "
        f"total {report.total_seconds:.0f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return train_lfw(args)
    except (ValidationError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
