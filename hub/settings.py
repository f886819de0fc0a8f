"""Hub settings: one strict model loaded once from YAML, with secrets taken from the environment only."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from facefleet.yamlfile import read_yaml_mapping
from models.imageio import DecodeLimits
from models.pipeline import PipelineConfig

ADMIN_TOKEN_ENV = "FACEFLEET_HUB_ADMIN_TOKEN"
MQTT_PASSWORD_ENV = "FACEFLEET_HUB_MQTT_PASSWORD"
WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "admin", "password", "token", "test"}
)
MIN_SECRET_CHARS = 24


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_secret(value: str, what: str) -> str:
    """Refuse default or short secrets: a hub reachable on a network with `changeme` is worse than none."""
    if value.lower() in WEAK_SECRETS or len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"{what} is a default or shorter than {MIN_SECRET_CHARS} characters; "
            "create one with `facefleet-hub token create` or `openssl rand -hex 24`"
        )
    return value


class EnrollConfig(_Strict):
    """How uploads become samples.

    min_face_px: faces smaller than this (shorter box side, source pixels) are rejected as too small;
        higher keeps only sharp close-ups, lower accepts far faces whose embeddings are noisier.
    min_sharpness: variance of the Laplacian of the aligned 112 px crop; below it a face is "blurred".
    duplicate_cosine: a face at least this similar to one already kept in the same request (or in the
        person's library) is a duplicate; lower keeps fewer, more varied samples.

    The pixel budget (checked from headers and container metadata before anything is decoded):
    analysis_pixels: every photo and video frame is scaled down to at most this before detection (JPEG
        decoded reduced); detection costs about 70 bytes a pixel, so this bounds memory and time per image.
        Faces are measured (`min_face_px`) on the scaled image.
    max_image_pixels: declared size above which any photo is refused (422).
    max_full_decode_pixels: declared size above which a photo of a format that cannot be decoded reduced
        (PNG, WebP, BMP, TIFF) is refused (422): it exists whole in memory before scaling.
    max_request_pixels: declared pixels summed over the photos of one request (413 above).
    max_video_frame_pixels: frame size above which a video is refused (422), read before any frame.
    max_video_duration_s: a video whose container says it is longer is refused (422).
    """

    max_video_frames: int = Field(200, ge=1, le=10_000)
    max_video_samples: int = Field(20, ge=1, le=1000)
    frames_per_sample: int = Field(3, ge=1, le=50, description="video frames analyzed per wanted sample")
    max_samples_per_person: int = Field(200, ge=1, le=100_000)
    min_face_px: float = Field(40.0, ge=8)
    min_sharpness: float = Field(25.0, ge=0)
    duplicate_cosine: float = Field(0.97, gt=0, le=1)
    max_upload_files: int = Field(50, ge=1, le=1000)
    max_video_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    analysis_pixels: int = Field(2_100_000, ge=100_000, le=40_000_000)
    max_image_pixels: int = Field(40_000_000, ge=100_000, le=200_000_000)
    max_full_decode_pixels: int = Field(12_000_000, ge=100_000, le=200_000_000)
    max_request_pixels: int = Field(600_000_000, ge=100_000, le=10_000_000_000)
    max_video_frame_pixels: int = Field(3840 * 2160, ge=100_000, le=100_000_000)
    max_video_duration_s: float = Field(600.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _budget_order(self) -> EnrollConfig:
        if not self.analysis_pixels <= self.max_full_decode_pixels <= self.max_image_pixels:
            raise ValueError("need analysis_pixels <= max_full_decode_pixels <= max_image_pixels")
        return self

    @property
    def decode_limits(self) -> DecodeLimits:
        return DecodeLimits(self.max_image_pixels, self.max_full_decode_pixels, self.analysis_pixels)


class MqttConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = "facefleet"
    client_id: str = "facefleet-hub"
    username: str = ""
    password: SecretStr = Field(default_factory=lambda: SecretStr(os.environ.get(MQTT_PASSWORD_ENV, "")))


class HubSettings(_Strict):
    """Everything the hub needs; `create_app(settings)` builds the rest from it."""

    data_dir: Path = Path("/var/lib/facefleet-hub")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("", description="base URL devices use for downloads; default http://host:port")
    signing_key: Path | None = Field(None, description="ed25519 private key; default <data_dir>/keys/hub.key")
    pipeline: PipelineConfig = PipelineConfig()
    enroll: EnrollConfig = EnrollConfig()
    mqtt: MqttConfig | None = None
    verify_threshold: float = Field(
        0.363, gt=-1, lt=1, description="cosine above which two faces match (SFace)"
    )
    canary_timeout_s: float = Field(600.0, gt=0)
    training_lfw_dir: Path | None = Field(None, description="LFW folder for the retraining gate (pairs.txt)")
    training_lfw_folds: int = Field(1, ge=1, le=10, description="LFW folds the retraining gate evaluates")
    live_events: int = Field(200, ge=1, le=100_000, description="recent track events kept for the live view")
    admin_token: SecretStr | None = Field(
        default_factory=lambda: (
            SecretStr(os.environ[ADMIN_TOKEN_ENV]) if os.environ.get(ADMIN_TOKEN_ENV) else None
        ),
        validate_default=True,
    )

    @field_validator("admin_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_secret(value.get_secret_value(), ADMIN_TOKEN_ENV)
        return value

    @model_validator(mode="after")
    def _mqtt_secret(self) -> HubSettings:
        if self.mqtt is not None and self.mqtt.username and not self.mqtt.password.get_secret_value():
            raise ValueError(f"mqtt.username is set but {MQTT_PASSWORD_ENV} is empty")
        return self

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def key_path(self) -> Path:
        return self.signing_key or self.data_dir / "keys" / "hub.key"


def load_settings(path: Path) -> HubSettings:
    """Read a YAML config; unknown keys are refused. Secrets are never read from the file."""
    raw = read_yaml_mapping(path)
    for secret in ("admin_token",):
        if secret in raw:
            raise ValueError(f"{path}: {secret} belongs in the environment ({ADMIN_TOKEN_ENV}), not the file")
    if isinstance(raw.get("mqtt"), dict) and "password" in raw["mqtt"]:
        raise ValueError(f"{path}: mqtt.password belongs in the environment ({MQTT_PASSWORD_ENV})")
    return HubSettings.model_validate(raw)
