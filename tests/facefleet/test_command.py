"""The three commands take the same log flags before their subcommand and refuse bad input the same way."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from edge.cli import build_parser as edge_parser
from facefleet.command import add_log_flags, log_level, run_command
from hub.cli import build_parser as hub_parser
from tooling.cli import build_parser as facefleet_parser

COMMANDS: list[tuple[Callable[[], argparse.ArgumentParser], list[str]]] = [
    (facefleet_parser, ["models", "fetch"]),
    (edge_parser, ["run", "--config", "edge.yaml"]),
    (hub_parser, ["serve"]),
]


@pytest.mark.parametrize(("parser", "command"), COMMANDS, ids=["facefleet", "facefleet-edge", "facefleet-hub"])
@pytest.mark.parametrize(
    ("flags", "level"),
    [
        ([], "INFO"),  # the default
        (["-v"], "DEBUG"),
        (["--log-level", "WARNING"], "WARNING"),
        (["-v", "--log-level", "ERROR"], "DEBUG"),  # -v wins: it is the shorter way to ask for everything
    ],
)
def test_log_flags(
    parser: Callable[[], argparse.ArgumentParser], command: list[str], flags: list[str], level: str
) -> None:
    assert log_level(parser().parse_args([*flags, *command])) == level


def test_a_refused_error_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise ValueError("mqtt.username is set but FACEFLEET_HUB_MQTT_PASSWORD is empty")

    parser = argparse.ArgumentParser(prog="facefleet-hub")
    add_log_flags(parser)
    parser.set_defaults(func=refuse)
    assert run_command(parser, [], refused=(ValueError,)) == 2
    assert capsys.readouterr().err == "facefleet-hub: mqtt.username is set but FACEFLEET_HUB_MQTT_PASSWORD is empty\n"
    with pytest.raises(ValueError):  # anything else is a bug: its traceback is wanted
        run_command(parser, [])
