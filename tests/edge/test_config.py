"""Config loading: a good file validates; a malformed one fails with an error that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ConfigError, load_config

GOOD = """
device_id: door-1
state_dir: /var/lib/facefleet/edge-test
cameras:
  - name: front
    source: {type: rtsp, url: "rtsp://10.0.0.5/stream"}
    gstreamer: true
  - name: lobby
    source: {type: file, path: lobby.mp4, loop: true}
pipeline:
  detector: {min_face_px: 40}
mqtt: {host: broker.local, password_env: FACEFLEET_MQTT_PASSWORD}
"""


def test_good_config_loads_with_defaults_and_secrets_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(GOOD)
    monkeypatch.setenv("FACEFLEET_MQTT_PASSWORD", "s3cret")
    config = load_config(path)
    assert [c.name for c in config.cameras] == ["front", "lobby"]
    assert config.pipeline.detector.min_face_px == 40
    assert config.recognition.vote_window == 50 and config.recognition.match_threshold == 0.45
    assert config.mqtt.password == "s3cret"
    assert config.outbox_path == Path("/var/lib/facefleet/edge-test/outbox.db")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # unknown key (a typo must not silently use the default)
        (GOOD + "trackr: {lost_frames: 3}\n", "trackr: Extra inputs are not permitted"),
        # unknown key inside the embedded pipeline block
        (GOOD.replace("min_face_px: 40", "min_face: 40"), "pipeline.detector.min_face"),
        # number out of bounds
        (GOOD + "recognition: {vote_window: 0}\n", "recognition.vote_window"),
        (GOOD + "recognition: {appearance_gate: 0.5, match_threshold: 0.45}\n", "appearance_gate must be below"),
        (GOOD + "tracker: {cut_threshold: 0}\n", "tracker.cut_threshold"),
        # cross-field rule
        (
            GOOD + "recognition: {min_embed_face_px: 200, good_face_px: 100}\n",
            "good_face_px must be >= min_embed_face_px",
        ),
        # bad device id
        (GOOD.replace("door-1", "Door 1"), "device_id"),
        # unknown camera type
        (GOOD.replace("type: rtsp", "type: webcam"), "cameras.0.source"),
        # RTSP URL that is not one
        (GOOD.replace("rtsp://10.0.0.5", "http://10.0.0.5"), "cameras.0.source.rtsp.url"),
        # duplicate camera names
        (GOOD.replace("name: lobby", "name: front"), "camera names must be unique"),
        # an MQTT topic prefix with a leading slash
        (GOOD.replace("host: broker.local", "host: broker.local, topic_prefix: /Fleet"), "mqtt.topic_prefix"),
        # no cameras
        ("device_id: a\ncameras: []\n", "cameras"),
        # not a mapping
        ("- just\n- a list\n", "expected a mapping"),
        # not YAML at all
        ("device_id: [unclosed\n", "not valid YAML"),
    ],
)
def test_malformed_config_gives_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_cli_reports_a_bad_config_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(GOOD + "bogus: 1\n")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "bogus: Extra inputs are not permitted" in capsys.readouterr().err
    assert main(["check-config", "--config", str(tmp_path / "missing.yaml")]) == 2
    path.write_text(GOOD)
    assert main(["check-config", "--config", str(path)]) == 0
