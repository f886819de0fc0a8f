"""`facefleet-edge run` as a process: starts, goes online, and on SIGTERM stops cleanly and says offline."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import CLIPS, ROOT
from tests.edge.conftest import FAST_PIPELINE, Subscriber


def test_run_until_sigterm(tmp_path: Path, broker: Any, subscriber: Subscriber) -> None:
    clip = str(CLIPS / "short_hamilton_clip.mp4")
    config = {
        "device_id": "cli-test",
        "state_dir": str(tmp_path / "state"),
        "cameras": [{"name": "clip", "source": {"type": "file", "path": clip, "loop": True}}],
        "pipeline": FAST_PIPELINE.model_dump(mode="json"),
        "mqtt": {"host": "127.0.0.1", "port": broker.port},
        "http": {"port": 0},
        "updates": {"enabled": False},
    }
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        subscriber.wait_for(
            lambda s: any(st["state"] == "online" for st in s.json("cli-test/status")), 60, "the agent online"
        )
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "received SIGTERM, stopping" in output and "agent cli-test stopped" in output
    subscriber.wait_for(lambda s: s.json("cli-test/status")[-1]["state"] == "offline", 5, "offline status")
