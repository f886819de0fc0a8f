"""A small smoke run of `facefleet load`: the benchmark's own parts work and lose nothing at a tiny size."""

from __future__ import annotations

from pathlib import Path

from facefleet.cli import main
from facefleet.load import quantiles, run_load
from tests.conftest import SHARED_DATA


def test_quantiles_nearest_rank() -> None:
    assert quantiles([]) == {"p50": 0.0, "p99": 0.0, "n": 0}
    q = quantiles([float(v) for v in range(1, 101)])
    assert (q["p50"], q["p99"], q["n"]) == (51.0, 99.0, 100)


def test_tiny_load_run_loses_nothing(tmp_path: Path) -> None:
    report = run_load(tmp_path, SHARED_DATA, devices=2, clients=1, seconds=3, rate=5)
    assert report.sent >= 20 and report.received == report.sent and report.lost == 0
    assert report.enroll_requests >= 1 and report.enroll_errors == 0
    assert report.latency_ms["events_recent"]["p99"] > 0 and report.hub_rss_mb_peak > 50


def test_load_command_is_in_the_cli(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["load", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--devices" in capsys.readouterr().out
