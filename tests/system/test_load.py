"""A short run of `facefleet load` (100 devices, 20 s): the benchmark's own parts work and lose nothing."""

from __future__ import annotations

import resource
from pathlib import Path

from tests.conftest import SHARED_DATA
from tooling.cli import main
from tooling.sim.load import quantiles, raise_open_files, run_load


def test_quantiles_nearest_rank() -> None:
    assert quantiles([]) == {"p50": 0.0, "p99": 0.0, "n": 0}
    q = quantiles([float(v) for v in range(1, 101)])
    assert (q["p50"], q["p99"], q["n"]) == (51.0, 99.0, 100)


def test_short_fleet_run_loses_nothing(tmp_path: Path) -> None:
    # A track every 10 s: each of the 100 devices publishes two or three tracks (6-9 events) in 20 s.
    report = run_load(tmp_path, SHARED_DATA, devices=100, clients=1, seconds=20, track_every_s=10)
    assert report.device_processes == 1 and report.connected == 100 and report.registered_online == 100
    assert report.sent >= 100 * 6 and report.received == report.sent and report.lost == 0
    assert report.enroll_requests >= 1 and report.enroll_errors == 0
    assert report.latency_ms["devices"]["p99"] > 0 and report.latency_ms["events_recent"]["n"] >= 1
    assert report.hub_rss_mb_peak > 50 and report.broker_rss_mb_peak > 0 and report.open_files_limit >= 612


def test_open_files_limit_is_raised_for_the_broker() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, soft + 1) if hard != resource.RLIM_INFINITY else soft + 1
    assert raise_open_files(wanted) >= wanted
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= wanted


def test_load_command_is_in_the_cli(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["load", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--devices" in capsys.readouterr().out
