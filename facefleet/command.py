"""How the three commands (`facefleet`, `facefleet-edge`, `facefleet-hub`) set up logging: the same flags
before the subcommand (`-v` for debug logs, or `--log-level LEVEL`) and the same line format."""

from __future__ import annotations

import argparse
import logging

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
