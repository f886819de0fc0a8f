"""The edge agent's configuration: one strict pydantic model loaded from YAML once, in `main`.

Unknown keys are refused (a typo must not silently fall back to a default), numbers carry bounds, and
secrets (MQTT password, hub token) come from environment variables named in the file, never the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from facefleet.wire import DEVICE_ID_PATTERN, Topics
from facefleet.yamlfile import read_yaml_mapping
from models.pipeline import PipelineConfig, check_frame_fits


class ConfigError(ValueError):
    """The config file is missing, not YAML, or fails validation; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSource(_Strict):
    """A video file used as a camera. `pacing: every_frame` hands every frame to the pipeline (tests,
    benchmarks); `realtime` plays at the file's frame rate and drops frames like a live camera."""

    type: Literal["file"] = "file"
    path: Path
    loop: bool = False
    pacing: Literal["realtime", "every_frame"] = "realtime"


class UsbSource(_Strict):
    type: Literal["usb"] = "usb"
    device: int = Field(0, ge=0, le=63, description="N of /dev/videoN")
    resolution_wh: tuple[int, int] = (1280, 720)


class RtspSource(_Strict):
    type: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=r"^rtsps?://")
    latency_ms: int = Field(200, ge=0, le=10_000)


class CsiSource(_Strict):
    type: Literal["csi"] = "csi"
    sensor_id: int = Field(0, ge=0, le=7)
    resolution_wh: tuple[int, int] = (1280, 720)
    fps: int = Field(30, ge=1, le=120)


Source = Annotated[FileSource | UsbSource | RtspSource | CsiSource, Field(discriminator="type")]


class CameraConfig(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    source: Source
    gstreamer: bool = Field(False, description="open through a GStreamer pipeline (JetPack's OpenCV)")
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _backoff_order(self) -> CameraConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class TrackerConfig(_Strict):
    """SORT-style tracking. iou_match_threshold: lowest IoU between a prediction and a detection to call
    them the same face (lower follows fast motion, higher swaps ids less). activation_frames: hits before a
    track exists for the outside world (filters one-frame false faces). lost_frames: misses before it ends."""

    iou_match_threshold: float = Field(0.3, gt=0, lt=1)
    activation_frames: int = Field(3, ge=1, le=100)
    lost_frames: int = Field(15, ge=1, le=1000)
    lost_after_s: float = Field(3.0, gt=0, le=600, description="end tracks of a camera that sends no frames")


class RecognitionConfig(_Strict):
    """Which faces get embedded and how votes become an identity.

    embed_every_frames: a track is embedded at most every k frames unless its face quality improved by
        quality_improvement (relative); more embeds means faster identities and more CPU.
    match_threshold: cosine at or above which a sample votes for the gallery person, below it votes unknown.
    confirm_votes / confirm_share: votes and share of the window the leading identity needs to be confirmed.
    """

    min_face_px: float = Field(40, ge=8, description="faces smaller than this are tracked but never embedded")
    good_face_px: float = Field(112, ge=8, description="size at which the size part of quality saturates")
    min_quality: float = Field(0.2, ge=0, le=1)
    embed_every_frames: int = Field(5, ge=1, le=1000)
    quality_improvement: float = Field(0.25, ge=0, le=10)
    match_threshold: float = Field(0.4, gt=-1, lt=1)
    window_frames: int = Field(200, ge=1, le=100_000)
    change_votes: int = Field(2, ge=1, le=1000)
    confirm_votes: int = Field(4, ge=1, le=1000)
    confirm_share: float = Field(0.6, gt=0.5, le=1)
    liveness_window: int = Field(30, ge=4, le=1000)
    liveness_noise_floor: float = Field(0.02, ge=0, le=1, description="landmark jitter of a still photo, in "
                                        "eye distances: motion up to this scores liveness 0")
    liveness_motion_ref: float = Field(0.06, gt=0, le=1, description="non-rigid motion that scores 1")

    @model_validator(mode="after")
    def _sizes(self) -> RecognitionConfig:
        if self.good_face_px < self.min_face_px:
            raise ValueError("good_face_px must be >= min_face_px")
        if self.liveness_motion_ref <= self.liveness_noise_floor:
            raise ValueError("liveness_motion_ref must be above liveness_noise_floor")
        if self.confirm_votes < self.change_votes:
            raise ValueError("confirm_votes must be >= change_votes")
        return self


class MqttConfig(_Strict):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = "facefleet"
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable that holds the password")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=1, description="broker keeps our session this long")
    reconnect_min_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(60.0, gt=0, le=3600)
    max_inflight: int = Field(20, ge=1, le=1000)
    stats_every_s: float = Field(10.0, gt=0, le=3600)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        Topics(value)  # raises with the rule: lowercase, no leading or trailing slash
        return value

    @model_validator(mode="after")
    def _backoff_order(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self

    @property
    def password(self) -> str | None:
        return _secret(self.password_env)


class OutboxConfig(_Strict):
    path: Path | None = Field(None, description="SQLite file; default <state_dir>/outbox.db")
    max_events: int = Field(100_000, ge=10, description="past this the oldest are dropped, and counted")


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535, description="0 picks a free port")
    stalled_after_s: float = Field(30.0, gt=0, description="/healthz fails when the frame loop is this quiet")


class UpdatesConfig(_Strict):
    enabled: bool = True
    hub_public_key: Path | None = Field(None, description="PEM of the hub's ed25519 key; no key, no updates")
    token_env: str | None = Field("FACEFLEET_DEVICE_TOKEN", description="environment variable with the token")
    download_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_artifact_bytes: int = Field(512 * 1024 * 1024, ge=1)
    probe_crop: Path | None = Field(None, description="aligned 112x112 face image for health checks")

    @property
    def token(self) -> str | None:
        return _secret(self.token_env)


class EdgeConfig(_Strict):
    device_id: str
    group: str = "default"
    state_dir: Path = Path("/var/lib/facefleet/edge")
    gallery_path: Path | None = Field(None, description="gallery used until the hub sends one")
    cameras: list[CameraConfig] = Field(min_length=1)
    pipeline: PipelineConfig = PipelineConfig()
    tracker: TrackerConfig = TrackerConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    http: HttpConfig = HttpConfig()
    updates: UpdatesConfig = UpdatesConfig()

    @field_validator("device_id")
    @classmethod
    def _device_id(cls, value: str) -> str:
        if not DEVICE_ID_PATTERN.fullmatch(value):
            raise ValueError("device_id must be lowercase letters, digits, '_' or '-' (at most 64)")
        return value

    @field_validator("cameras")
    @classmethod
    def _unique_cameras(cls, value: list[CameraConfig]) -> list[CameraConfig]:
        names = [c.name for c in value]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        return value

    @model_validator(mode="after")
    def _cameras_fit_the_engines(self) -> EdgeConfig:
        """A camera of known size whose frames a TensorRT P-Net engine would refuse is refused here."""
        for camera in self.cameras:
            resolution = getattr(camera.source, "resolution_wh", None)
            if resolution is not None:
                check_frame_fits(self.pipeline, resolution)
        return self

    @property
    def outbox_path(self) -> Path:
        return self.outbox.path or self.state_dir / "outbox.db"


def _secret(env_name: str | None) -> str | None:
    return os.environ.get(env_name) if env_name else None


def load_config(path: Path) -> EdgeConfig:
    """Read and validate a YAML config; every problem becomes one `ConfigError` naming the field."""
    data = read_yaml_mapping(path, ConfigError)
    try:
        return EdgeConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid config\n" + "\n".join(lines)) from exc
