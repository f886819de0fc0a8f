"""Packages a bare GPU image lacks travel as wheels in the pack; installed into a temporary folder on first
use and put on PYTHONPATH of a re-executed interpreter. Standard library only: it runs before any of them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

NEEDED = ("pydantic", "numpy", "cv2", "onnx", "onnxruntime", "yaml", "tqdm")  # what models/ imports
MARKER = "FACEFLEET_GPUCHECK_DEPS"


def missing_modules() -> list[str]:
    return [name for name in NEEDED if importlib.util.find_spec(name) is None]


def ensure_dependencies(pack_dir: Path, argv: list[str]) -> None:
    """Return when every module imports; else install the pack's wheels and re-run this command once."""
    missing = missing_modules()
    if not missing:
        return
    wheels = sorted((pack_dir / "wheels").glob("*.whl"))
    if os.environ.get(MARKER) or not wheels:
        raise SystemExit(
            f"gpucheck: missing Python modules {missing} and no wheels for them in "
            f"{pack_dir / 'wheels'} (run `python -m scripts.gpucheck pack` with wheels)"
        )
    target = Path(tempfile.mkdtemp(prefix="gpucheck-site-"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--no-cache-dir",
            "--target",
            str(target),
            *map(str, wheels),
        ],
        check=True,
    )
    env = dict(os.environ, **{MARKER: "1"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH", "")) if p)
    print(f"gpucheck: installed {len(wheels)} wheel(s) for {missing} into {target}", flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "scripts.gpucheck", *argv], env)
