"""`facefleet bench hub page` on a small library: what it seeds is what the views draw (figures not asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hub.conftest import CHROMEDRIVER
from tooling.bench.hub.page import EVENTS_PER_TRACK
from tooling.cli import main

pytestmark = pytest.mark.skipif(not Path(CHROMEDRIVER).exists(), reason="chromedriver not installed")


def test_page_bench_draws_what_it_seeded(tmp_path: Path) -> None:
    out = tmp_path / "page.json"
    assert (
        main(
            [
                "bench",
                "hub",
                "page",
                "--page-people",
                "3",
                "--events",
                str(3 * EVENTS_PER_TRACK),
                "--loads",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())["page"]
    views = {v["view"]: v for v in figures["views"]}
    assert views["live"]["rows"] == 3  # one row per track, not per event
    assert views["people"]["rows"] == 3
    for view in views.values():
        assert view["bytes"] > 0 and 0 < view["rendered_ms"] and view["requests"] >= 4  # page, 2 files, an API call
