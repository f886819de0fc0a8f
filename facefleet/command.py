"""How the three commands (`facefleet`, `facefleet-edge`, `facefleet-hub`) run: the same log flags before the
subcommand (`-v` for debug logs, or `--log-level LEVEL`), the same line format, and a refused input (a bad
config, a missing secret) said in one line with exit status 2 instead of a traceback."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs (--log-level DEBUG)")
    parser.add_argument("--log-level", default="INFO", choices=LEVELS, help="the lowest level logged")


def log_level(args: argparse.Namespace) -> str:
    """DEBUG with `-v`, else `--log-level`."""
    return "DEBUG" if args.verbose else str(args.log_level)


def setup_logging(args: argparse.Namespace) -> None:
    logging.basicConfig(level=log_level(args), format=LOG_FORMAT)


def run_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None, refused: tuple[type[Exception], ...] = ()
) -> int:
    """Parse `argv`, set up logging, run the subcommand's `func`; its exit status, or 2 for a `refused`
    error (printed as `<prog>: <message>`)."""
    args = parser.parse_args(argv)
    setup_logging(args)
    try:
        return int(args.func(args))
    except refused as exc:
        sys.stderr.write(f"{parser.prog}: {exc}\n")
        return 2
