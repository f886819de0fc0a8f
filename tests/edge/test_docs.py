"""edge/README.md stays true: every command and config key documented, the example event valid."""

from __future__ import annotations

import argparse
import json
import re

import yaml
from pydantic import BaseModel

from edge.cli import build_parser
from edge.config import CameraConfig, CsiSource, EdgeConfig, FileSource, RtspSource, UsbSource, load_config
from facefleet.wire import TrackEvent
from tests.conftest import ROOT

README = (ROOT / "edge" / "README.md").read_text(encoding="utf-8")


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Dotted keys of our own config sections (the embedded pipeline block is documented in models/)."""
    keys = []
    for name, field in model.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel) and name != "pipeline":
            keys += config_keys(sub, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


def test_every_command_is_documented() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f"`facefleet-edge {name}" in README, name


def test_every_config_key_is_documented() -> None:
    keys = config_keys(EdgeConfig) + config_keys(CameraConfig)
    keys += [k for source in (FileSource, UsbSource, RtspSource, CsiSource) for k in config_keys(source)]
    missing = [key for key in keys if not re.search(rf"`{re.escape(key)}(\[\])?`", README)]
    assert not missing


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
