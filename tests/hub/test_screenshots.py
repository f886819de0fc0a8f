"""`tooling.screenshots` (what `facefleet demo --screenshots DIR` runs): a PNG of each view at both widths."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.hub.conftest import CHROMEDRIVER, HubServer
from tests.hub.visitors.test_api import PERSON, _enroll
from tooling.cli import build_parser
from tooling.screenshots import VIEWPORTS_WH, take_screenshots

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")


def png_wh(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_screenshots_of_every_view_at_both_widths(hub_server: HubServer, tmp_path: Path) -> None:
    _enroll(hub_server.client(hub_server.admin), PERSON, range(1, 3))
    shots = take_screenshots(hub_server.url, hub_server.admin, tmp_path / "shots")
    views = ["live", "people", "person", "visitors", "devices", "search", "training", "collect"]
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == sorted(
        f"{v}-{w}.png" for v in views for w in VIEWPORTS_WH
    )
    for shot in shots:
        assert png_wh(shot.path) == VIEWPORTS_WH[shot.viewport], shot


def test_demo_takes_screenshots_only_with_a_duration() -> None:
    args = build_parser().parse_args(["demo", "--duration", "60", "--screenshots", "shots"])
    assert args.screenshots == Path("shots") and args.duration == 60
    with pytest.raises(SystemExit, match="needs --duration"):
        args = build_parser().parse_args(["demo", "--screenshots", "shots"])
        args.func(args)
