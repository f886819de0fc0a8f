"""The systemd units: `systemd-analyze verify` in a scratch root, and the settings the Jetson needs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("*.service"))
SYSTEM_UNIT_DIRS = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "systemd" / name)
    return parser


def test_units_exist() -> None:
    assert {u.name for u in UNITS} >= {"facefleet-edge.service", "facefleet-hub.service"}


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """Verified inside a scratch root holding the system's own units and stub executables, so the check
    needs neither the installed program nor root; any warning (unknown key, bad value) fails the test."""
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.skip("systemd-analyze is not installed")
    system_units = next((d for d in SYSTEM_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if system_units is None:
        pytest.skip("no systemd unit directory with sysinit.target on this machine")
    shutil.copytree(system_units, tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(unit, tmp_path / "etc/systemd/system" / unit.name)
        executable = tmp_path / _unit(unit.name)["Service"]["ExecStart"].split()[0].lstrip("/")
        executable.parent.mkdir(parents=True, exist_ok=True)
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
    result = subprocess.run(
        [binary, "verify", f"--root={tmp_path}", "--man=no", *(u.name for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),  # READY=1 after cameras and engines are up
        ("WatchdogSec", "30"),  # frame loop pings WATCHDOG=1
        ("NotifyAccess", "main"),
        ("User", "facefleet"),
        ("SupplementaryGroups", "video render"),  # /dev/nvmap, /dev/nvhost-*, /dev/video*
        ("Restart", "on-failure"),
        ("RestartSec", "5"),
        ("EnvironmentFile", "/etc/facefleet/edge.env"),
        ("ExecStart", "/opt/facefleet/venv/bin/facefleet-edge run --config /etc/facefleet/edge.yaml"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/facefleet /var/cache/facefleet"),  # models, engines, outbox
        ("NoNewPrivileges", "yes"),
    ],
)
def test_edge_unit_settings(key: str, value: str) -> None:
    assert _unit("facefleet-edge.service")["Service"][key] == value


@pytest.mark.parametrize(
    "key",
    [
        "PrivateDevices",
        "DevicePolicy",
        "DeviceAllow",
        "ProtectClock",  # implies DeviceAllow=char-rtc r: every other device, the GPU too, is then denied
        "PrivateTmp",
        "MemoryDenyWriteExecute",
    ],
)
def test_edge_unit_keeps_gpu_camera_and_argus_reachable(key: str) -> None:
    # Each of these would hide the GPU or camera nodes, the Argus socket in /tmp, or break CUDA's JIT.
    assert key not in _unit("facefleet-edge.service")["Service"]


def test_edge_unit_start_limit() -> None:
    unit = _unit("facefleet-edge.service")["Unit"]
    assert int(unit["StartLimitBurst"]) >= 3 and int(unit["StartLimitIntervalSec"]) >= 60


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ExecStart", "/opt/facefleet/venv/bin/facefleet-hub serve --config /etc/facefleet/hub.yaml"),
        ("EnvironmentFile", "/etc/facefleet/hub.env"),
        ("PrivateDevices", "yes"),  # the hub needs no devices
        ("ProtectSystem", "strict"),
        ("Restart", "on-failure"),
    ],
)
def test_hub_unit_settings(key: str, value: str) -> None:
    assert _unit("facefleet-hub.service")["Service"][key] == value
