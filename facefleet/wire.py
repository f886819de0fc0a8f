"""The wire contract between edge agents and the hub: MQTT topics, payload models, artifact manifests.

No I/O here; both sides import it. Every payload carries `schema_version`; a reader refuses a major
version it does not know instead of guessing. Topic layout follows what Frigate users know:
`<prefix>/<device>/events|status|stats`, plus the update channel of the rollout mechanism.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION: Literal[1] = 1
_ID = r"^[a-z0-9][a-z0-9_-]{0,63}$"
DEVICE_ID_PATTERN = re.compile(_ID)
# Agents make event ids as uuid4 hex (32 characters). Ids from outside never name a file, and this alphabet
# keeps them from ever looking like one: no '/', no '.', nothing outside ASCII letters, digits, '_' and '-'.
EVENT_ID_PATTERN = re.compile(r"^[0-9A-Za-z_-]{8,64}$")
# Bounds a reader enforces before and while parsing. The edge's best-face crops are 112x112 JPEGs of about
# 5 KB; 64 KiB decoded leaves room for any quality setting and keeps a hostile 5 MB crop out of memory.
MAX_CROP_BYTES = 64 * 1024
MAX_CROP_B64_CHARS = 4 * -(-MAX_CROP_BYTES // 3)
# Cameras one device may list in its status (each a camera id like a device id): the hub keeps a Home
# Assistant sensor per camera, so a status naming thousands would flood discovery configs.
MAX_CAMERAS_PER_DEVICE = 64
CameraName = Annotated[str, Field(pattern=_ID)]
# No device message is larger (an ended track with the largest crop is under 100 KB); the shipped broker
# refuses bigger packets too (`max_packet_size`).
MAX_MESSAGE_BYTES = 128 * 1024


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION


class Topics:
    """All topic names for one prefix. Topics are lowercase with no leading slash."""

    def __init__(self, prefix: str = "facefleet") -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_/-]*[a-z0-9]", prefix) or "//" in prefix:
            raise ValueError(f"bad MQTT topic prefix {prefix!r}")
        self.prefix = prefix

    def events(self, device: str) -> str:
        return f"{self.prefix}/{device}/events"

    def status(self, device: str) -> str:
        return f"{self.prefix}/{device}/status"

    def stats(self, device: str) -> str:
        return f"{self.prefix}/{device}/stats"

    def updates(self, device: str) -> str:
        """Hub -> one device: update announcements (retained, so a device that was offline gets it)."""
        return f"{self.prefix}/{device}/updates"

    def update_state(self, device: str) -> str:
        """Device -> hub: how an announced update went."""
        return f"{self.prefix}/{device}/updates/state"

    def collect(self, device: str) -> str:
        """Hub -> one device: collection requests (`CollectRequest`); only that device may read them."""
        return f"{self.prefix}/{device}/collect"

    def all_of(self, kind: str) -> str:
        return f"{self.prefix}/+/{kind}"


EventType = Literal["track_started", "identity_changed", "identity_confirmed", "track_ended"]
MAX_EMBEDDING_DIM = 4096  # the largest `ArtifactManifest.embedding_dim`


class EmbeddingPayload(BaseModel):
    """A track's pooled template on the wire: `dim` little-endian float16 values, base64 (`encoding` names
    the format, so a later one can be added beside it). float16 keeps cosines within about 1e-3 at a
    quarter of the JSON float text (a 128-d SFace template is 344 characters). Refused when the data is not
    `dim` values, not finite, or not a unit vector (within 1%).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    encoding: Literal["f16le"] = "f16le"
    dim: int = Field(ge=16, le=MAX_EMBEDDING_DIM)
    data_b64: str = Field(max_length=4 * -(-2 * MAX_EMBEDDING_DIM // 3))

    @model_validator(mode="after")
    def _unit_vector(self) -> EmbeddingPayload:
        try:
            raw = base64.b64decode(self.data_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("data_b64 is not base64") from exc
        if len(raw) != 2 * self.dim:
            raise ValueError(f"data_b64 holds {len(raw)} bytes; {self.dim} float16 values are {2 * self.dim}")
        values = np.frombuffer(raw, "<f2").astype(np.float32)
        if not np.isfinite(values).all() or abs(float(np.linalg.norm(values)) - 1.0) > 0.01:
            raise ValueError("the template is not a finite unit vector")
        return self

    @classmethod
    def from_vector(cls, vector: np.ndarray) -> EmbeddingPayload:
        """(D,) unit vector -> payload."""
        data = np.asarray(vector, np.float32).astype("<f2").tobytes()
        return cls(dim=int(vector.shape[0]), data_b64=base64.b64encode(data).decode())

    def vector(self) -> np.ndarray:
        """(D,) float32 unit vector (renormalised after the float16 rounding)."""
        values = np.frombuffer(base64.b64decode(self.data_b64), "<f2").astype(np.float32)
        unit: np.ndarray = values / np.linalg.norm(values)
        return unit


class TrackEvent(_Payload):
    """One track-level event. `event_id` is unique; subscribers drop repeats by it (QoS 1 is at-least-once).

    `seq` increases by one per track event on a device and survives restarts, so a subscriber can also
    see order and gaps.
    """

    event_id: str = Field(pattern=EVENT_ID_PATTERN.pattern, description="8-64 of [0-9A-Za-z_-]; agents send uuid4 hex")
    seq: int = Field(ge=1)
    type: EventType
    device_id: str = Field(pattern=_ID)
    camera: str = Field(min_length=1, max_length=64)
    track_id: int = Field(ge=0)
    ts: datetime
    started_at: datetime
    ended_at: datetime | None = None
    duration_s: float | None = Field(None, ge=0)
    person_id: str | None = Field(None, description="gallery person id; None while unknown")
    name: str | None = None
    confidence: float = Field(0.0, ge=-1.0, le=1.0, description="mean cosine of the voted identity")
    votes: dict[str, int] = Field(default_factory=dict, description="person id (or 'unknown') -> frames")
    frames: int = Field(0, ge=0, description="frames embedded for this track")
    liveness: float | None = Field(None, ge=0.0, le=1.0, description="1 = natural motion, 0 = still like a photo")
    best_crop_jpeg_b64: str | None = Field(
        None, max_length=MAX_CROP_B64_CHARS, description="track_ended only: best face, JPEG, base64"
    )
    template: EmbeddingPayload | None = Field(None, description="track_ended only: the pooled template, of `model_id`")
    ignored: bool = Field(False, description="unknown, but matching an ignore entry of the gallery")
    model_id: str = ""
    gallery_version: str = ""

    @model_validator(mode="after")
    def _template_of_a_model(self) -> TrackEvent:
        if self.template is not None and (self.type != "track_ended" or not self.model_id):
            raise ValueError("a template travels only on track_ended, with the model_id it belongs to")
        if self.ignored and self.person_id is not None:
            raise ValueError("a named track is not ignored")
        return self


class DeviceStatus(_Payload):
    """Retained on `<prefix>/<device>/status`; the broker publishes the `offline` will if the device vanishes."""

    device_id: str = Field(pattern=_ID)
    state: Literal["online", "offline"]
    ts: datetime | None = None
    agent_version: str = ""
    model_version: str = ""
    model_id: str = ""
    gallery_version: str = ""
    group: str = "default"
    cameras: list[CameraName] = Field(default_factory=list, max_length=MAX_CAMERAS_PER_DEVICE)


class CameraStats(_Payload):
    """fps: frames processed per second (last 10 s); dropped: camera frames never processed because a newer
    one was there first (since the agent started); lag_ms: capture to the end of processing (moving average)."""

    fps: float = Field(ge=0)
    connected: bool
    reconnects: int = Field(ge=0)
    dropped: int = Field(0, ge=0)
    lag_ms: float = Field(0.0, ge=0)


class DeviceStats(_Payload):
    device_id: str = Field(pattern=_ID)
    ts: datetime
    cameras: dict[str, CameraStats]
    active_tracks: int = Field(ge=0)
    outbox_backlog: int = Field(ge=0)
    stage_ms: dict[str, float] = Field(default_factory=dict)


ArtifactKind = Literal["gallery", "model"]
ArtifactVersion = Annotated[str, Field(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


class ArtifactManifest(_Payload):
    """What a gallery or model file is. Signed by the hub (ed25519 over `canonical_bytes`)."""

    kind: ArtifactKind
    version: str = Field(pattern=r"^[0-9A-Za-z._-]{1,64}$")
    model_id: str = Field(min_length=1, max_length=128, description="embedding model this artifact belongs to")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1)
    created: datetime
    file_name: str = Field(pattern=r"^[0-9A-Za-z._-]{1,128}$")
    embedding_dim: int = Field(ge=16, le=4096)
    base_model: str = Field("", description="model: registry id it was trained from")
    # Joined the manifest later: left out of the JSON while empty, so manifests signed before it still verify
    # and agents that predate it still read galleries that revoke nothing.
    revokes: list[ArtifactVersion] = Field(
        default_factory=list,
        max_length=100_000,
        exclude_if=lambda versions: not versions,
        description="gallery: earlier gallery versions revoked because a person in them was deleted; a device "
        "that installs this gallery deletes them from its slots",
    )

    def canonical_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode("utf-8")


class SignedManifest(_Payload):
    manifest: ArtifactManifest
    signature_b64: str = Field(min_length=16, max_length=256)
    key_id: str = Field("", max_length=64)


class UpdateAnnouncement(_Payload):
    """Hub -> device: fetch this artifact, verify, swap, health-check, report on `update_state`."""

    rollout_id: str = Field(min_length=1, max_length=64)
    kind: ArtifactKind
    version: str = Field(min_length=1, max_length=64)
    manifest_url: str = Field(max_length=2048, description="on the hub: a device sends its token only there")
    artifact_url: str = Field(max_length=2048)
    ts: datetime


class UpdateState(_Payload):
    rollout_id: str = Field(min_length=1, max_length=64)
    device_id: str = Field(pattern=_ID)
    kind: ArtifactKind
    version: str
    state: Literal["downloading", "verifying", "applied", "failed", "rolled_back"]
    detail: str = ""
    ts: datetime
    running_version: str = Field("", description="the version the device runs after this step")


# A device collects at most this many crops for one request, for at most this long: the hub bounds the
# upload by them before reading it.
MAX_COLLECT_CROPS = 50
MAX_COLLECT_SECONDS = 60


class CollectRequest(_Payload):
    """Hub -> device: collect the face nearest the centre of `camera` for `seconds`, keep at most `max_crops`
    of its best crops (spread over poses), and upload them to the hub's `/api/collections/<id>/crops`
    with `token` before `expires`. The URL is the agent's configured hub (`updates.hub_url`), never one a
    message names, so the token goes nowhere else. The token allows that one upload and nothing more."""

    collection_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    camera: CameraName
    seconds: float = Field(gt=0, le=MAX_COLLECT_SECONDS)
    max_crops: int = Field(ge=1, le=MAX_COLLECT_CROPS)
    token: str = Field(min_length=16, max_length=128)
    expires: datetime
    ts: datetime
