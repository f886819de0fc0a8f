"""The `facefleet` command's commands, subcommands and options are all in a README (the top-level one)."""

from __future__ import annotations

from tests.readme_docs import command_paths, undocumented_commands, undocumented_options
from tooling.cli import build_parser


def test_every_command_and_option_is_documented() -> None:
    assert {"models fetch", "eval lfw", "load"} <= set(command_paths(build_parser()))  # subcommands listed
    assert not undocumented_commands("facefleet", build_parser())
    assert not undocumented_options("facefleet", build_parser())
