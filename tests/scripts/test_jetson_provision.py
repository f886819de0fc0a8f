"""scripts/jetson/provision.sh: shellcheck, and its dry run on this (non-Jetson) machine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "jetson" / "provision.sh"


def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True, text=True, timeout=60)


def test_shellcheck_clean() -> None:
    binary = shutil.which("shellcheck")
    if binary is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([binary, "-x", str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


@pytest.fixture(scope="module")
def jp6() -> str:
    result = dry_run("--jetpack", "6", "--hub-url", "https://hub.example:8443")
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "line",
    [
        "+ python3 -m venv --system-site-packages /opt/facefleet/venv",  # TensorRT comes from JetPack
        "--extra-index-url https://pypi.jetson-ai-lab.io/jp6/cu126 onnxruntime-gpu",
        "pip install --no-deps /opt/facefleet/src",  # never pip's OpenCV over JetPack's
        "pip install pycuda",
        "cuda-python\\>=12.2\\,\\<13",
        "--shell /usr/sbin/nologin facefleet",
        "+ install -d -m 0750 -o facefleet -g facefleet /var/lib/facefleet /var/lib/facefleet/models "
        "/var/lib/facefleet/.config /var/cache/facefleet /var/cache/facefleet/engines",
        "FACEFLEET_MQTT_HOST=hub.example",  # broker defaults to the hub's host
        "https://hub.example:8443/api/v1/models/edge/manifest.json",
        "facefleet models engines --precision int8",
        "+ install -m 0644 ",
        "+ systemctl enable facefleet-edge.service",
        "scripts/jetson/check_env.py",
    ],
)
def test_jetpack6_dry_run_plans(jp6: str, line: str) -> None:
    assert line in jp6


def test_steps_run_in_order(jp6: str) -> None:
    order = [
        "system packages",
        "service user",
        "directories",
        "Python environment",
        "configuration",
        "models from",
        "TensorRT engines",
        "power:",
        "systemd unit",
    ]
    positions = [jp6.index(step) for step in order]
    assert positions == sorted(positions)


def test_power_is_left_alone_by_default(jp6: str) -> None:
    assert "+ nvpmodel" not in jp6 and "facefleet-jetson-clocks.service" not in jp6


@pytest.mark.parametrize(
    ("args", "expected", "absent"),
    [
        (["--jetpack", "5"], "jp5/cu114", "jp6/"),  # JetPack 5: CUDA 11.4 wheels
        (["--jetpack", "5"], "cuda-python\\>=11.4\\,\\<12", "cuda-python\\>=12"),
        (["--jetpack", "6", "--power-mode", "2"], "+ nvpmodel -m 2", "jetson-clocks"),
        (
            ["--jetpack", "6", "--jetson-clocks"],
            "systemctl enable --now facefleet-jetson-clocks.service",
            "+ nvpmodel",
        ),
        (["--jetpack", "6", "--no-engines"], "skipping the TensorRT engine build", "models engines"),
        (["--jetpack", "6", "--precision", "fp16"], "models engines --precision fp16", "check_env.py --precision"),
        # default: INT8 unless check_env.py finds a GPU without fast INT8
        (["--jetpack", "6"], "scripts/jetson/check_env.py --precision", "--precision fp16"),
        (["--jetpack", "6"], "no --hub-url: skipping model fetch", "manifest.json"),
        (
            ["--jetpack", "6", "--ort-index", "https://mirror.example/jp6"],
            "mirror.example/jp6",
            "jetson-ai-lab",
        ),
    ],
)
def test_options(args: list[str], expected: str, absent: str) -> None:
    result = dry_run(*args)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout and absent not in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--jetpack", "4"],  # JetPack 4 (Nano) is not supported
        ["--jetpack", "6", "--precision", "int4"],
        ["--jetpack", "6", "--power-mode", "fast"],
        ["--jetpack", "6", "--hub-url", "ftp://hub"],
        ["--jetpack", "6", "--bogus"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    result = dry_run(*args)
    assert result.returncode == 2 and "provision:" in result.stderr


def test_not_a_jetson_without_jetpack_flag() -> None:
    if Path("/etc/nv_tegra_release").exists():
        pytest.skip("this is a Jetson")
    result = dry_run()
    assert result.returncode == 2 and "--jetpack" in result.stderr


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "opt"
    result = dry_run("--jetpack", "6", "--prefix", str(prefix), "--jetson-clocks", "--power-mode", "maxn")
    assert result.returncode == 0, result.stderr
    assert not prefix.exists() and list(tmp_path.iterdir()) == []


def _check_env():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_env", ROOT / "scripts" / "jetson" / "check_env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("capability", "precision"), [((5, 3), "fp16"), ((6, 2), "fp16"), ((7, 2), "int8"), ((8, 7), "int8")]
)
def test_check_env_chooses_fp16_where_int8_is_missing(
    capability: tuple[int, int], precision: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 5.3: the original Nano; 6.2: TX2; 7.2: Xavier; 8.7: Orin.
    check_env = _check_env()
    monkeypatch.setattr(check_env, "gpu_capability", lambda: ("Jetson", capability))
    assert check_env.main(["--precision"]) == 0
    assert capsys.readouterr().out.strip() == precision


def test_check_env_without_a_gpu_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    check_env = _check_env()
    monkeypatch.setattr(check_env, "gpu_capability", lambda: None)
    assert check_env.main(["--precision"]) == 1
    assert check_env.check_gpu()[0][1] is False


@pytest.mark.parametrize(
    ("shape", "detail"),
    [
        ("8.5", "8.5.2.2 (weak typing, INT8 calibrator)"),
        ("10", "10.3.0 (strongly typed, weak typing, INT8 calibrator)"),
        ("11", "11.4.0 (strongly typed)"),
    ],
)
def test_check_env_names_the_tensorrt_api_shape(shape: str, detail: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from tests.models.engines.tensorrt.trt_standins import FakeMemory, make_tensorrt

    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(shape, FakeMemory()))  # type: ignore[arg-type]
    assert _check_env().check_tensorrt() == ("tensorrt", True, detail)
