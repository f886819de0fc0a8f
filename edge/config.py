"""The edge agent's configuration: one strict pydantic model loaded from YAML once, in `main`.

Unknown keys are refused (a typo must not silently fall back to a default), numbers carry bounds, and
secrets (MQTT password, hub token) come from environment variables named in the file, never the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from facefleet.config_base import Strict as _Strict
from facefleet.config_base import TlsFiles, env_secret
from facefleet.wire import DEVICE_ID_PATTERN, MAX_CAMERAS_PER_DEVICE, Topics
from facefleet.yamlfile import read_yaml_model
from models.detect.schedule import ScheduleConfig
from models.detect.shotcut import CUT_RATIO, CUT_THRESHOLD
from models.pipeline import PipelineConfig, check_frame_fits


class ConfigError(ValueError):
    """The config file is missing, not YAML, or fails validation; the message says where and why."""


class FileSource(_Strict):
    """A video file used as a camera. `pacing: every_frame` hands every frame to the pipeline (tests,
    benchmarks); `realtime` plays at the file's frame rate and drops frames like a live camera."""

    type: Literal["file"] = "file"
    path: Path
    loop: bool = False
    pacing: Literal["realtime", "every_frame"] = "realtime"


# The URL and the device path go into a GStreamer pipeline string: no spaces, quotes or backslashes.
RTSP_URL_PATTERN = r"^rtsps?://[^\s\"'\\]+$"
V4L2_PATH_PATTERN = r"^/dev/video[0-9]+$|^/dev/v4l/by-(id|path)/[A-Za-z0-9._:-]+$"
ResolutionWH = tuple[Annotated[int, Field(ge=16, le=7680)], Annotated[int, Field(ge=16, le=4320)]]


class UsbSource(_Strict):
    """A V4L2 webcam. `mjpeg` asks the camera for JPEG frames (needed for 720p30 on most USB 2 cameras)."""

    type: Literal["usb"] = "usb"
    device: Annotated[int, Field(ge=0, le=63)] | Annotated[str, Field(pattern=V4L2_PATH_PATTERN)] = Field(
        0, description="N of /dev/videoN, or a stable /dev/v4l/by-id/... (by-path) name"
    )
    resolution_wh: ResolutionWH = (1280, 720)
    fps: int | None = Field(None, ge=1, le=240, description="GStreamer caps; none: the camera's own rate")
    mjpeg: bool = False


class RtspSource(_Strict):
    """An IP camera stream. latency_ms is rtspsrc's jitter buffer: lower is fresher, too low stutters.
    timeout_ms: a stream silent this long is an error and a reconnect (GStreamer's watchdog) rather than
    a read that blocks forever."""

    type: Literal["rtsp"] = "rtsp"
    url: str = Field(pattern=RTSP_URL_PATTERN)
    latency_ms: int = Field(200, ge=0, le=10_000)
    codec: Literal["h264", "h265"] = "h264"
    tcp: bool = Field(True, description="RTP over the RTSP TCP connection (no lost UDP packets)")
    timeout_ms: int = Field(5000, ge=100, le=600_000)


class CsiSource(_Strict):
    """A MIPI CSI sensor through Argus (Jetson only). flip_method: nvvidconv's 0..7 (2 = rotate 180)."""

    type: Literal["csi"] = "csi"
    sensor_id: int = Field(0, ge=0, le=7)
    resolution_wh: ResolutionWH = (1280, 720)
    fps: int = Field(30, ge=1, le=120)
    flip_method: int = Field(0, ge=0, le=7)


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
    """SORT-style tracking with shot cuts and an appearance gate.

    iou_match_threshold: lowest IoU between a prediction and a detection to call them the same face (lower
        follows fast motion, higher swaps ids less). activation_frames: hits before a track exists for the
        outside world (filters one-frame false faces). lost_frames: misses before it ends.
    appearance_check_iou: at or above this overlap the boxes vouch for the face: it continues its track
        even when it looks different (a head turning); below it (and on a suspected cut) the face is embedded
        and must look like the track's template (`recognition.appearance_gate`) to continue it. A face of
        24-30 fps video overlaps its prediction by 0.8-0.95; a box carried across a cut the cut test missed
        overlapped another person's face by 0.33.
    cut_threshold / cut_ratio: a frame whose colour histogram differs from the previous one by at least
        cut_threshold (total variation, 0-1) and by cut_ratio times the recent median change is a shot cut,
        and every track ends there. Lower finds subtler cuts and ends more tracks on sudden light changes.
    """

    iou_match_threshold: float = Field(0.3, gt=0, lt=1)
    appearance_check_iou: float = Field(0.5, gt=0, le=1)
    activation_frames: int = Field(3, ge=1, le=100)
    lost_frames: int = Field(15, ge=1, le=1000)
    lost_after_s: float = Field(3.0, gt=0, le=600, description="end tracks of a camera that sends no frames")
    cut_threshold: float = Field(CUT_THRESHOLD, gt=0, le=1)
    cut_ratio: float = Field(CUT_RATIO, ge=1, le=100)

    @model_validator(mode="after")
    def _check_above_match(self) -> TrackerConfig:
        if self.appearance_check_iou <= self.iou_match_threshold:
            raise ValueError(
                "appearance_check_iou must be above iou_match_threshold (between the two, a face "
                "continues its track only if it looks the same)"
            )
        return self


class MemoryConfig(_Strict):
    """Templates lent by a camera's confidently named tracks to their people (`edge.recognize.memory`).

    ttl_s: how long a lent template is kept, in camera time. per_person / max_templates: the newest kept per
        person and in all; each one lent raises the naming threshold a little (one more template a stranger
        could match). min_embeddings: embeddings a track must have pooled to lend. lend_margin_z: how far
        (z-score) the gallery's score for the track's person must lead the runner-up's to lend.
    """

    enabled: bool = True
    ttl_s: float = Field(600.0, gt=0, le=86_400)
    per_person: int = Field(2, ge=1, le=16)
    max_templates: int = Field(24, ge=1, le=256)
    min_embeddings: int = Field(3, ge=1, le=1000)
    lend_margin_z: float = Field(2.0, ge=0, le=20)


class RecognitionConfig(_Strict):
    """Which faces get embedded, how a track's embeddings become one identity, and the liveness cue.

    min_embed_face_px: faces smaller than this (shorter box side) are tracked but never embedded. On LFW
        faces shrunk to 24 px are still identified 91% of the time (98% at full size) with no more false
        accepts; at 20 px 81%, at 16 px 60%: below 24 an embedding costs more than it tells.
    good_face_px: size at which a face counts fully in the track's pooled template; smaller faces count
        less, never zero.
    embed_every_frames: a track is embedded at most every k processed frames unless its face quality
        improved by quality_improvement (relative) or its appearance must be checked; more embeds mean
        faster and firmer identities and more CPU. max_embeds_per_frame bounds the embedder's work per frame
        (tracks never embedded go first).
    stranger_track_far: the share of strangers' tracks that may be named as someone: the naming threshold
        (a z-score against the gallery's impostor cohort) follows from it and from the number of templates
        of the gallery at hand (`facefleet.openset`); `facefleet eval lfw` prints what it gives.
    match_margin_z: the named person must lead the next person by this much (z-score; two similar enrolled
        people, siblings). identity_hysteresis_z: a named track keeps its name until its score falls this far
        below the threshold.
    match_threshold / match_margin / identity_hysteresis: the same in cosines, for a gallery without a cohort
        (one written before cohorts, or by a hub that has none): a fixed threshold.
    confirm_embeddings: consecutive decisions for the same person before `identity_confirmed`.
    appearance_gate: cosine to a track's template below which a comparably good crop is someone else's
        face: the association is refused and the face starts a new track.
    vote_window: recent embeddings whose own best match is reported as `votes` (evidence, bounded).
    """

    min_embed_face_px: float = Field(24, ge=8)
    good_face_px: float = Field(112, ge=8)
    embed_every_frames: int = Field(5, ge=1, le=1000)
    quality_improvement: float = Field(0.25, ge=0, le=10)
    max_embeds_per_frame: int = Field(8, ge=1, le=256)
    stranger_track_far: float = Field(1e-3, gt=0, lt=0.5)
    match_margin_z: float = Field(1.0, ge=0, le=20)
    identity_hysteresis_z: float = Field(0.5, ge=0, le=20)
    match_threshold: float = Field(0.45, gt=-1, lt=1)
    match_margin: float = Field(0.03, ge=0, lt=1)
    identity_hysteresis: float = Field(0.05, ge=0, lt=1)
    confirm_embeddings: int = Field(3, ge=1, le=1000)
    appearance_gate: float = Field(0.3, gt=-1, lt=1)
    vote_window: int = Field(50, ge=1, le=10_000)
    liveness_window: int = Field(30, ge=4, le=1000)
    liveness_noise_floor: float = Field(
        0.02,
        ge=0,
        le=1,
        description="landmark jitter of a still photo, in eye distances: motion up to this scores liveness 0",
    )
    liveness_motion_ref: float = Field(0.06, gt=0, le=1, description="non-rigid motion that scores 1")
    memory: MemoryConfig = MemoryConfig()

    @model_validator(mode="after")
    def _consistent(self) -> RecognitionConfig:
        if self.good_face_px < self.min_embed_face_px:
            raise ValueError("good_face_px must be >= min_embed_face_px")
        if self.liveness_motion_ref <= self.liveness_noise_floor:
            raise ValueError("liveness_motion_ref must be above liveness_noise_floor")
        if self.appearance_gate >= self.match_threshold:
            raise ValueError(
                "appearance_gate must be below match_threshold (a face that may be named as the "
                "track's person must not split it)"
            )
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
    tls: TlsFiles | None = Field(None, description="verify the broker (port 8883 with the shipped config)")

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
        return env_secret(self.password_env)


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
    hub_url: str | None = Field(
        None,
        pattern=r"^https?://[^/?#@\s]+(/[^?#\s]*)?$",
        description="the hub's base URL: the token goes nowhere else",
    )
    tls: TlsFiles | None = Field(
        None,
        description="CA of the hub's HTTPS certificate (default: the system's CAs) and an optional client certificate",
    )
    token_env: str | None = Field("FACEFLEET_DEVICE_TOKEN", description="environment variable with the token")
    download_timeout_s: float = Field(60.0, gt=0, le=3600)
    max_artifact_bytes: int = Field(512 * 1024 * 1024, ge=1)
    probe_crop: Path | None = Field(None, description="aligned 112x112 face image for health checks")

    @model_validator(mode="after")
    def _hub_url(self) -> UpdatesConfig:
        if self.enabled and self.hub_public_key is not None and self.hub_url is None:
            raise ValueError(
                "updates.hub_url is required with hub_public_key: the device token is sent only to that origin"
            )
        return self

    @property
    def token(self) -> str | None:
        return env_secret(self.token_env)


class CollectConfig(_Strict):
    """Enrollment at this device: the hub asks a camera for the centre face (`edge.deliver.collect_upload`).
    The crops go to `updates.hub_url` (with `updates.tls`) and nowhere else; without that URL, or with
    `enabled: false`, requests are ignored (logged)."""

    enabled: bool = True
    upload_timeout_s: float = Field(30.0, gt=0, le=600, description="one upload attempt")
    jpeg_quality: int = Field(90, ge=50, le=100)


class EdgeConfig(_Strict):
    device_id: str
    group: str = "default"
    state_dir: Path = Path("/var/lib/facefleet/edge")
    gallery_path: Path | None = Field(None, description="gallery used until the hub sends one")
    cameras: list[CameraConfig] = Field(min_length=1, max_length=MAX_CAMERAS_PER_DEVICE)
    pipeline: PipelineConfig = PipelineConfig()
    detection: ScheduleConfig = ScheduleConfig()
    tracker: TrackerConfig = TrackerConfig()
    recognition: RecognitionConfig = RecognitionConfig()
    mqtt: MqttConfig = MqttConfig()
    outbox: OutboxConfig = OutboxConfig()
    http: HttpConfig = HttpConfig()
    updates: UpdatesConfig = UpdatesConfig()
    collect: CollectConfig = CollectConfig()

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


def load_config(path: Path) -> EdgeConfig:
    """Read and validate a YAML config; every problem becomes one `ConfigError` naming the field."""
    return read_yaml_model(path, EdgeConfig, ConfigError, "config")
