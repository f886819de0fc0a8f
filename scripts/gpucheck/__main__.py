"""`python -m scripts.gpucheck pack|run`: the one entry point of the GPU check (see the package docstring)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.gpucheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    pack = sub.add_parser("pack", help="here, beside the data: write the pack the GPU machine reads")
    pack.add_argument("--lfw", type=Path, default=Path("../shared/data/lfw"))
    pack.add_argument("--model-dir", type=Path, default=None, help="default: the converted models' cache")
    pack.add_argument("--out", type=Path, default=Path(".gpucheck"))
    pack.add_argument("--budget-mib", type=float, default=60.0, help="total size of the pack, wheels included")
    pack.add_argument("--max-folds", type=int, default=9, help="LFW folds 0..N-1 (fold 9 holds the trainees)")
    pack.add_argument("--max-pairs", type=int, default=0, help="at most this many pairs (0: whole folds)")
    pack.add_argument("--train-people", type=int, default=20)
    pack.add_argument("--no-wheels", action="store_true", help="do not download wheels (the target has them)")
    pack.add_argument("--python-version", default="3.12", help="of the GPU machine, for the wheels")
    run = sub.add_parser("run", help="there: measure and print the table")
    run.add_argument("--pack", type=Path, default=Path(".gpucheck"))
    run.add_argument("--work", type=Path, default=None, help="unpacked models, engines (default: a temp dir)")
    run.add_argument("--out", type=Path, default=None, help="folder for results.json")
    run.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    run.add_argument("--small", action="store_true", help="small sizes (CPU runs, tests)")
    run.add_argument("--batches", default="", help="comma-separated (default 1,32,256; small: 1,4,16)")
    run.add_argument("--train-steps", type=int, default=0, help="retraining steps (default 200; small: 10)")
    run.add_argument("--int8-max-lfw-drop", type=float, default=0.3, help="points an INT8 row may lose")
    run.add_argument("--require-tensorrt", action="store_true", help="TensorRT rows not available = failure")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command == "pack":
        from scripts.gpucheck.pack import write_pack

        return write_pack(args)
    from scripts.gpucheck.deps import ensure_dependencies

    ensure_dependencies(args.pack, argv)
    from scripts.gpucheck.run import run_check

    return run_check(args)


if __name__ == "__main__":
    raise SystemExit(main())
