"""`facefleet bench models|edge|hub`: the benchmarks of the three parts, each printing its figures and writing
them with `--json`. They live here, beside the programs they measure, so that no program imports its bench."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from hub.settings import SearchConfig
from models.detect.schedule import ScheduleConfig


def _models(args: argparse.Namespace) -> int:
    if args.schedule:
        from models.detect.mtcnn import DetectorConfig
        from models.eval.bench_schedule import run_schedule_bench
        from models.pipeline import FacePipeline, PipelineConfig

        config = PipelineConfig(model_dir=args.model_dir, detector=DetectorConfig(min_face_px=args.min_face_px))
        run_schedule_bench(args.data, FacePipeline.from_config(config).detector, per_frame=args.per_frame)
        return 0
    from models.eval.bench import run_bench

    run_bench(
        args.data,
        model_dir=args.model_dir,
        repeats=args.repeats,
        compare_facenet=not args.no_facenet,
        json_path=args.json,
    )
    return 0


def _edge(args: argparse.Namespace) -> int:
    from tooling.bench.edge import run_bench

    run_bench(
        args.data,
        frames=args.frames,
        min_face_px=args.min_face_px,
        mosquitto=args.mosquitto,
        precision=args.precision,
        latency_frames=args.latency_frames,
        json_path=args.json,
        full_every_frames=args.full_every_frames,
        gallery_people=args.gallery_people,
    )
    return 0


def _hub(args: argparse.Namespace) -> int:
    if "ann" in args.what:
        if len(args.what) > 1:
            raise SystemExit("bench hub: `ann` runs alone")
        return _hub_ann(args)
    if "streams" in args.what:
        if len(args.what) > 1:
            raise SystemExit("bench hub: `streams` runs alone")
        return _hub_streams(args)
    if "page" in args.what:
        if len(args.what) > 1:
            raise SystemExit("bench hub: `page` runs alone")
        return _hub_page(args)

    from tooling.bench.hub.enroll import run_bench
    from tooling.bench.hub.uploads import run_upload_bench
    from tooling.sim.procs import Processes

    report: dict[str, object] = {}
    if "enroll" in args.what:
        figures = run_bench(args.data, people=args.people, per_person=args.per_person)
        report["enroll"] = dataclasses.asdict(figures)
        sys.stdout.write("".join(line + "\n" for line in figures.lines()))
    if "uploads" in args.what:
        with tempfile.TemporaryDirectory() as tmp:
            procs = Processes(Path(tmp) / "logs")
            try:
                uploads = run_upload_bench(procs, Path(tmp), args.data)
            finally:
                procs.stop_all()
        report["uploads"] = dataclasses.asdict(uploads)
        sys.stdout.write("".join(line + "\n" for line in uploads.lines()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def _hub_page(args: argparse.Namespace) -> int:
    from tooling.bench.hub.page import run_page_bench

    figures = run_page_bench(args.page_people, args.events, args.loads)
    sys.stdout.write("".join(line + "\n" for line in figures.lines()))
    if args.json:
        args.json.write_text(json.dumps({"page": dataclasses.asdict(figures)}, indent=2))
    return 0


def _hub_streams(args: argparse.Namespace) -> int:
    from tooling.bench.hub.streams import run_streams_bench
    from tooling.sim.procs import Processes

    counts = [int(n) for n in args.streams.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(Path(tmp) / "logs")
        try:
            figures = run_streams_bench(procs, Path(tmp), args.data, counts, args.seconds)
        finally:
            procs.stop_all()
    sys.stdout.write("".join(line + "\n" for line in figures.lines()))
    if args.json:
        args.json.write_text(figures.to_json())
    return 0


def _hub_ann(args: argparse.Namespace) -> int:
    from tooling.bench.hub.ann import lfw_embeddings, run_ann_bench

    sizes = tuple(int(n) for n in args.sizes.split(","))
    lfw = None if args.no_lfw else lfw_embeddings(args.data / "lfw", args.lfw_people)
    nprobes = tuple(int(n) for n in args.nprobe.split(","))
    config = SearchConfig(nprobe=nprobes[0], cells_per_sqrt=args.cells_per_sqrt, encoding=args.encoding)
    report = run_ann_bench(sizes, args.queries, lfw, config, nprobes, exact_timed=args.exact_timed)
    for line in report.lines():
        sys.stdout.write(line + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2))
    return 0


def add_bench_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`bench models`, `bench edge` and `bench hub` under the `facefleet` command."""
    parts = commands.add_parser(
        "bench", help="speed on this machine: the networks, the edge agent, the hub"
    ).add_subparsers(dest="part", required=True)
    _add_models(parts)
    _add_edge(parts)
    _add_hub(parts)


def _add_models(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = parts.add_parser("models", help="detector and embedder speed on this machine")
    bench.add_argument("--data", type=Path, default=Path("../shared/data"))
    bench.add_argument("--model-dir", type=Path)
    bench.add_argument("--repeats", type=int, default=10, help="interleaved passes over the frames")
    bench.add_argument("--no-facenet", action="store_true", help="skip the facenet-pytorch comparison")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON here")
    bench.add_argument(
        "--schedule",
        action="store_true",
        help="instead: faces found with full detection every frame vs every 2, 3, 5 frames",
    )
    bench.add_argument("--min-face-px", type=int, default=20, help="detector min_face_px for --schedule")
    bench.add_argument("--per-frame", action="store_true", help="with --schedule: print every frame's counts")
    bench.set_defaults(func=_models)


def _add_edge(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = parts.add_parser("edge", help="throughput and latency of the edge agent on this machine")
    bench.add_argument("--data", type=Path, default=Path("../shared/data"))
    bench.add_argument("--frames", type=int, default=40, help="frames per scenario")
    bench.add_argument("--min-face-px", type=int, default=40)
    bench.add_argument("--mosquitto", default="mosquitto", help="broker binary for the latency run")
    bench.add_argument("--precision", choices=["fp32", "int8"], default="fp32", help="onnxruntime CPU precision")
    bench.add_argument("--latency-frames", type=int, default=500, help="frames of the latency runs (25 fps)")
    bench.add_argument("--json", type=Path, help="also write the figures as JSON here")
    bench.add_argument(
        "--gallery-people",
        type=int,
        default=0,
        help="match against a gallery of this many LFW "
        "people (the scenes' among them) with the impostor cohort; 0: an empty gallery",
    )
    bench.add_argument(
        "--full-every-frames",
        type=int,
        default=ScheduleConfig().full_every_frames,
        help="the agent's detection.full_every_frames (1: the whole detector on every frame)",
    )
    bench.set_defaults(func=_edge)


def _add_hub(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bench = parts.add_parser(
        "hub",
        help="`enroll`: enrollment (HTTP) and a gallery build of many LFW "
        "people; `uploads`: hub peak RSS under hostile uploads and search latency behind "
        "a long enrollment (a hub process); `ann`: the 1:N index at 10k/100k/1M "
        "identities (alone); `streams`: 1, 4, 8 thin cameras streaming a clip to a hub "
        "process (alone); `page`: bytes and time to a drawn Live and People view of the "
        "hub's page in headless Chromium, with many people and events (alone)",
    )
    bench.add_argument(
        "what", nargs="*", choices=["enroll", "uploads", "ann", "streams", "page"], default=["enroll", "uploads"]
    )
    bench.add_argument("--data", type=Path, default=Path("../shared/data"), help="the data set folder")
    bench.add_argument("--people", type=int, default=1000, help="enroll: LFW people enrolled")
    bench.add_argument("--per-person", type=int, default=2, help="enroll: LFW photos enrolled per person")
    bench.add_argument("--sizes", default="10000,100000,1000000", help="ann: identities, comma-separated")
    bench.add_argument(
        "--queries", type=int, default=1000, help="ann: mated queries, and as many non-mated ones, per library"
    )
    bench.add_argument(
        "--exact-timed",
        type=int,
        default=100,
        help="ann: queries exact search is timed on (its answers cover all of them)",
    )
    bench.add_argument(
        "--encoding",
        default=SearchConfig().encoding,
        choices=["flat", "sq8", "fp16"],
        help="ann: how the IVF index keeps each vector",
    )
    bench.add_argument(
        "--nprobe",
        default=str(SearchConfig().nprobe),
        help="ann: IVF cells scanned per query, comma-separated to compare several",
    )
    bench.add_argument(
        "--cells-per-sqrt",
        type=float,
        default=SearchConfig().cells_per_sqrt,
        help="ann: IVF cells per sqrt(identities)",
    )
    bench.add_argument("--no-lfw", action="store_true", help="ann: random identities only (no LFW embedding)")
    bench.add_argument("--lfw-people", type=int, help="ann: only the first N LFW gallery people")
    bench.add_argument("--streams", default="1,4,8", help="streams: concurrent thin cameras per run, comma-separated")
    bench.add_argument("--seconds", type=float, default=20.0, help="streams: seconds each run streams the clip")
    bench.add_argument("--page-people", type=int, default=200, help="page: people in the library")
    bench.add_argument("--events", type=int, default=1000, help="page: live track events kept by the hub")
    bench.add_argument("--loads", type=int, default=5, help="page: cold loads of each view (the median is shown)")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    bench.set_defaults(func=_hub)
