"""The three commands take the same log flags before their subcommand."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from edge.cli import build_parser as edge_parser
from facefleet.cli import build_parser as facefleet_parser
from facefleet.command import log_level
from hub.cli import build_parser as hub_parser

COMMANDS: list[tuple[Callable[[], argparse.ArgumentParser], list[str]]] = [
    (facefleet_parser, ["models", "fetch"]),
    (edge_parser, ["run", "--config", "edge.yaml"]),
    (hub_parser, ["serve"]),
]


@pytest.mark.parametrize(("parser", "command"), COMMANDS, ids=["facefleet", "facefleet-edge", "facefleet-hub"])
@pytest.mark.parametrize(("flags", "level"), [
    ([], "INFO"),  # the default
    (["-v"], "DEBUG"),
    (["--log-level", "WARNING"], "WARNING"),
    (["-v", "--log-level", "ERROR"], "DEBUG"),  # -v wins: it is the shorter way to ask for everything
])
def test_log_flags(parser: Callable[[], argparse.ArgumentParser], command: list[str], flags: list[str],
                   level: str) -> None:
    assert log_level(parser().parse_args([*flags, *command])) == level
