"""Hub settings: one strict model loaded once from YAML, with secrets taken from the environment only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from facefleet.config_base import Strict as _Strict
from facefleet.config_base import TlsFiles, env_secret
from facefleet.yamlfile import read_yaml_mapping
from models.cohort import cohort_path
from models.imageio import DecodeLimits
from models.pipeline import PipelineConfig

ADMIN_TOKEN_ENV = "FACEFLEET_HUB_ADMIN_TOKEN"
MQTT_PASSWORD_ENV = "FACEFLEET_HUB_MQTT_PASSWORD"
DATABASE_URL_ENV = "FACEFLEET_HUB_DATABASE_URL"
WEAK_SECRETS = frozenset({"changeme", "change-me", "changethis", "secret", "admin", "password", "token", "test"})
MIN_SECRET_CHARS = 24


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

    min_sample_face_px: faces smaller than this (shorter box side, source pixels) are rejected as too small;
        higher keeps only sharp close-ups, lower accepts far faces whose embeddings are noisier.
    min_sharpness: variance of the Laplacian of the aligned 112 px crop; below it a face is "blurred".
    duplicate_cosine: a face at least this similar to one already kept in the same request (or in the
        person's library) is a duplicate; lower keeps fewer, more varied samples.
    same_person_cosine: in a video, faces at least this alike count as one person, and only the person
        most often in the centre of the frame is kept (the rest are "other_person"); on the sitcom clip's
        two-person shots one person's faces scored 0.59-0.97 with each other, another's at most 0.41.

    The pixel budget (checked from headers and container metadata before anything is decoded):
    analysis_pixels: every photo and video frame is scaled down to at most this before detection (JPEG
        decoded reduced); detection costs about 70 bytes a pixel, so this bounds memory and time per image.
        Faces are measured (`min_sample_face_px`) on the scaled image.
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
    min_sample_face_px: float = Field(40.0, ge=8)
    min_sharpness: float = Field(25.0, ge=0)
    duplicate_cosine: float = Field(0.97, gt=0, le=1)
    same_person_cosine: float = Field(0.5, gt=0, le=1)
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


class SuggestConfig(_Strict):
    """When a named track's best crop is offered as a new sample of that person (see hub/README.md).

    A track qualifies when the agent's cosine to the person is at least `min_confidence` (well above the
    agents' naming threshold), the hub's own embedding of the crop reaches the person at
    `visitors.match_threshold` and puts them first by `min_margin` over anyone else, it pooled
    `min_frames` embeddings, its liveness shows natural motion (`min_liveness`), its crop is sharp enough
    to enroll, and no other name ever came up for it. Higher bounds offer fewer, safer crops.
    auto_accept: accept qualifying crops without a click, at most `auto_accept_per_day` per person per day
        (never past `enroll.max_samples_per_person`); off by default, so nothing is added silently.
    """

    min_confidence: float = Field(0.6, gt=0, lt=1)
    min_margin: float = Field(0.15, ge=0, lt=1)
    min_frames: int = Field(3, ge=1, le=1000)
    min_liveness: float = Field(0.3, ge=0, le=1)
    max_pending_per_person: int = Field(20, ge=1, le=1000)
    auto_accept: bool = False
    auto_accept_per_day: int = Field(3, ge=1, le=50)


class VisitorConfig(_Strict):
    """Unknown tracks grouped into visitors, and how long unknown faces are kept (see hub/README.md).

    join_cosine: a track joins the visitor whose centre is at least this similar (and re-clustering merges
        groups whose tracks are this similar on average); higher splits a person into more visitors, lower
        merges strangers. Chosen on LFW's development pairs (`facefleet eval visitors`).
    retention_days: unknown tracks (their crops and templates) and named tracks are deleted this long
        after they arrived; ignored visitors are kept (their tracks make the ignore entry) and the
        library's samples are never touched.
    max_tracks: tracks kept at most, oldest deleted first past it (about 6 KB each): bounds the disk.
    crops_per_visitor: best crops (sharpest) kept per visitor; the other tracks keep only their template.
    name_max_samples: crops offered to enrollment when a visitor is named (the sharpest first).
    match_threshold: a cosine (the agents' fixed `recognition.match_threshold`, which they use for galleries
        without a cohort): "not this person" removes samples until a track's template no longer reaches it,
        and a suggested sample's crop must reach it.
    max_new_visitors_per_device_hour: visitors one device's tracks may found in an hour; past it, an unknown
        track that would found another is not stored (joining an existing visitor still is). Bounds the junk
        one device can make; a busy door of strangers founds a few dozen an hour.
    """

    enabled: bool = True
    join_cosine: float = Field(0.48, gt=0, lt=1)
    recluster_every_s: float = Field(3600.0, ge=10, le=7 * 86400)
    recluster_max_tracks: int = Field(4000, ge=2, le=10_000)
    retention_days: float = Field(30.0, gt=0, le=3650)
    purge_every_s: float = Field(3600.0, ge=10, le=86400)
    max_tracks: int = Field(20_000, ge=10, le=1_000_000)
    crops_per_visitor: int = Field(12, ge=1, le=1000)
    name_max_samples: int = Field(10, ge=1, le=200)
    match_threshold: float = Field(0.45, gt=-1, lt=1)
    max_new_visitors_per_device_hour: int = Field(200, ge=1, le=1_000_000)
    suggest: SuggestConfig = SuggestConfig()


class MqttConfig(_Strict):
    """The broker. With the shipped Mosquitto config (`use_username_as_clientid true`) the broker uses the
    user name as the client id, so `client_id` matters only for other brokers."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    topic_prefix: str = "facefleet"
    client_id: str = "facefleet-hub"
    username: str = ""
    password_env: str = Field(MQTT_PASSWORD_ENV, description="environment variable that holds the password")
    session_expiry_s: int = Field(
        7 * 24 * 3600, ge=60, le=2**32 - 1, description="broker keeps the hub's session and queue this long"
    )
    tls: TlsFiles | None = Field(
        None,
        description="verify the broker; a client certificate for brokers that require one (`require_certificate true`)",
    )

    @property
    def password(self) -> SecretStr:
        """Read from the environment variable `password_env` names, as the agent reads its own."""
        return SecretStr(env_secret(self.password_env) or "")


class HttpsConfig(_Strict):
    """Serve the API over HTTPS (uvicorn's own TLS); leave it out behind a TLS-terminating reverse proxy."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = Field(None, description="require client certificates signed by this CA")


IvfEncoding = Literal["flat", "sq8", "fp16"]


class SearchConfig(_Strict):
    """The 1:N index (`hub.library.search_index`, `hub.library.vector_index`).

    type: `auto` is exact (numpy) up to `exact_max_samples` samples and FAISS IVF above; `exact` or `ivf`
        force one.
    encoding: how the IVF index keeps each vector in its cells: `sq8` (a byte a dimension: 128 + 8 bytes a
        sample for SFace, cosines within about 0.01), `fp16` (256 + 8) or `flat` (float32, 512 + 8, exact
        cosines). At 10M samples float32 alone is 5 GB; SQ8 is 1.4 GB and scans faster.
    exact_max_samples: up to this many samples exact search is fast enough (about 9 ms a query at 100k
        samples of 128 floats on one loaded core, 50 ms at 1M) and costs no build.
    nprobe: IVF cells scanned per query; more is slower and finds the true mate more often (LFW mated
        queries among 1M identities, SQ8, one loaded core: 64 of 1000 cells find it first 0.86 as often as
        exact search, 1.1 ms p50; 256: 0.978, 5 ms; 512: 0.994, 11 ms p50, about 20 ms p99; at 10M, 512 of
        3162 cells: 0.970 in 22 ms p50, 1024: 0.994 in 45 ms).
    cells_per_sqrt: IVF cells = this x sqrt(samples at build time), within 16..65536.
    retrain_growth: an IVF index is rebuilt (cells trained again) once it holds this many times the samples
        it was trained on.
    oversample: a people search first asks for top_k x this many samples (a person has several), and for
        four times more while fewer than top_k people came back.
    """

    type: Literal["auto", "exact", "ivf"] = "auto"
    exact_max_samples: int = Field(200_000, ge=0, le=10_000_000)
    nprobe: int = Field(512, ge=1, le=65_536)
    cells_per_sqrt: float = Field(1.0, gt=0, le=64)
    retrain_growth: float = Field(4.0, ge=1.5, le=1000)
    oversample: int = Field(4, ge=1, le=100)
    encoding: IvfEncoding = "sq8"


class HomeAssistantConfig(_Strict):
    """Home Assistant MQTT discovery (`hub.fleet.home_assistant`): retained sensor configs under
    `<discovery_prefix>/sensor/<node_id>/<object_id>/config`, states under `<mqtt.topic_prefix>/_ha/`.

    max_people: people beyond this many get no sensor (each is a retained config the broker keeps and
        Home Assistant loads); cameras always get one.
    """

    enabled: bool = False
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    node_id: str = Field("facefleet", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    people: bool = Field(True, description="a sensor per person (last seen where)")
    max_people: int = Field(1000, ge=0, le=100_000)


class DatabaseConfig(_Strict):
    """Where the hub keeps its library, tokens, artifacts, rollouts and visitors (`hub.store`).

    url: empty for the SQLite file `<data_dir>/hub.sqlite` (the default), or a PostgreSQL URL
        `postgresql://user@host:port/database`; the password comes from libpq's environment (`PGPASSWORD`,
        `~/.pgpass`), never the file. Default: the environment variable FACEFLEET_HUB_DATABASE_URL.
    connect_timeout_s: PostgreSQL only: how long a request (or the MQTT intake) waits for a server that went
        away (restart, failover) before it fails with 503; shorter fails fast, longer rides out a slow restart
        while requests queue behind the store's lock.
    """

    url: str = Field(default_factory=lambda: os.environ.get(DATABASE_URL_ENV, ""), validate_default=True)
    connect_timeout_s: float = Field(10.0, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("database.url must be empty (SQLite in data_dir) or a postgresql:// URL")
        return value


class CollectConfig(_Strict):
    """Collections of crops asked of a device's camera (`POST /api/devices/{id}/collect`).

    max_seconds / max_crops: the most an operator may ask for in one request (the wire allows up to 60 s
    and 50 crops); the default crop count is what a request that names none gets.
    upload_grace_s: how long after the collection time its one-use token stays valid for the upload (a
        device that was briefly offline still gets the request and uploads; later, the token is dead).
    pending_ttl_s: crops waiting for the operator's decision are deleted after this long.
    """

    max_seconds: float = Field(30.0, gt=0, le=60)
    max_crops: int = Field(20, ge=1, le=50)
    default_crops: int = Field(20, ge=1, le=50)
    upload_grace_s: float = Field(120.0, ge=10, le=3600)
    pending_ttl_s: float = Field(7 * 86_400.0, ge=60)


class StreamConfig(_Strict):
    """Recognition on the hub for thin cameras (`/api/stream`, hub/README.md): bounds on what one hub accepts.

    max_streams: streams open at once; one more is refused (close code 1013). Each costs a camera's tracker
        state and, while processing, one frame's detection memory.
    workers: frames processed at once over all streams (threads); more than the CPU cores only adds waiting.
    max_frame_bytes: largest JPEG message; a bigger one closes the stream (1009) before it is decoded.
    max_frame_pixels: largest frame the JPEG header may declare; checked before decoding (1007 above it).
    send_queue: result messages waiting for a client that does not read them; when full, the stream is
        closed (4001) rather than the hub keeping results for it.
    hello_timeout_s: time to send the first message (the token) after connecting.
    gallery_check_s: how often a stream looks for a newer gallery of the hub's model.
    """

    max_streams: int = Field(8, ge=1, le=1000)
    workers: int = Field(2, ge=1, le=64)
    max_frame_bytes: int = Field(2 * 1024 * 1024, ge=16 * 1024, le=64 * 1024 * 1024)
    max_frame_pixels: int = Field(1920 * 1088, ge=64 * 64, le=40_000_000)
    send_queue: int = Field(64, ge=2, le=10_000)
    hello_timeout_s: float = Field(10.0, gt=0, le=600)
    gallery_check_s: float = Field(5.0, gt=0, le=3600)


class HubSettings(_Strict):
    """Everything the hub needs; `create_app(settings)` builds the rest from it."""

    data_dir: Path = Path("/var/lib/facefleet-hub")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("", description="base URL devices use for downloads; default http(s)://host:port")
    tls: HttpsConfig | None = None
    signing_key: Path | None = Field(None, description="ed25519 private key; default <data_dir>/keys/hub.key")
    pipeline: PipelineConfig = PipelineConfig()
    enroll: EnrollConfig = EnrollConfig()
    mqtt: MqttConfig | None = None
    verify_threshold: float = Field(0.363, gt=-1, lt=1, description="cosine above which two faces match (SFace)")
    canary_timeout_s: float = Field(600.0, gt=0)
    cohort_file: Path | None = Field(
        None,
        description="impostor cohort shipped in galleries (`facefleet models cohort`); default <model_dir>/cohort.npz",
    )
    training_lfw_dir: Path | None = Field(None, description="LFW folder for the retraining gate (pairs.txt)")
    training_lfw_folds: int = Field(1, ge=1, le=10, description="LFW folds the retraining gate evaluates")
    live_events: int = Field(200, ge=1, le=100_000, description="recent track events kept for the live view")
    stream: StreamConfig = StreamConfig()
    visitors: VisitorConfig = VisitorConfig()
    collect: CollectConfig = CollectConfig()
    search: SearchConfig = SearchConfig()
    home_assistant: HomeAssistantConfig = HomeAssistantConfig()
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    admin_token: SecretStr | None = Field(
        default_factory=lambda: SecretStr(os.environ[ADMIN_TOKEN_ENV]) if os.environ.get(ADMIN_TOKEN_ENV) else None,
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
            raise ValueError(f"mqtt.username is set but {self.mqtt.password_env} is empty")
        return self

    @model_validator(mode="after")
    def _home_assistant_broker(self) -> HubSettings:
        if self.home_assistant.enabled and self.mqtt is None:
            raise ValueError("home_assistant.enabled needs an mqtt broker")
        return self

    @property
    def base_url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")

    @property
    def database_target(self) -> Path | str:
        """What `HubDb` opens: the PostgreSQL URL, or the SQLite file in `data_dir`."""
        return self.database.url or self.data_dir / "hub.sqlite"

    @property
    def cohort_path(self) -> Path:
        return self.cohort_file or cohort_path(self.pipeline.model_dir)

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
        raise ValueError(
            f"{path}: mqtt.password belongs in the environment (the variable mqtt.password_env "
            f"names, {MQTT_PASSWORD_ENV} by default)"
        )
    if isinstance(raw.get("database"), dict) and urlsplit(str(raw["database"].get("url", ""))).password:
        raise ValueError(f"{path}: the database password belongs in the environment (PGPASSWORD or ~/.pgpass)")
    return HubSettings.model_validate(raw)
