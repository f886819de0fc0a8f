"""edge/README.md stays true: every command and config key (nested ones too) documented, the example event
valid."""

from __future__ import annotations

import json
import re

import yaml

from edge.cli import build_parser
from edge.config import EdgeConfig, load_config
from facefleet.wire import TrackEvent
from tests.conftest import ROOT
from tests.readme_docs import config_keys, undocumented_commands, undocumented_keys, undocumented_options

README = (ROOT / "edge" / "README.md").read_text(encoding="utf-8")


def test_every_command_and_option_is_documented() -> None:
    assert not undocumented_commands("facefleet-edge", build_parser())
    assert not undocumented_options("facefleet-edge", build_parser())


def test_every_config_key_is_documented() -> None:
    keys = config_keys(EdgeConfig)
    assert "cameras[].source.url" in keys and "mqtt.tls.ca_file" in keys  # nested sections are listed
    assert not undocumented_keys(keys, README)


def test_the_example_event_is_a_valid_track_event() -> None:
    block = re.search(r"```json\n(.*?)```", README, re.S)
    assert block is not None
    event = TrackEvent.model_validate(json.loads(block.group(1)))
    assert event.type == "track_ended" and event.schema_version == 1


def test_the_example_config_is_valid() -> None:
    config = load_config(ROOT / "edge" / "edge.example.yaml")
    assert [c.name for c in config.cameras] == ["front", "lobby"]


def test_the_readme_config_is_valid() -> None:
    block = re.search(r"```yaml\n(.*?)```", README, re.S)
    assert block is not None
    assert EdgeConfig.model_validate(yaml.safe_load(block.group(1))).device_id == "door-1"
