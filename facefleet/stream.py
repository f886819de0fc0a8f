"""The `/api/stream` protocol: the hello, the result messages, and the close codes with their reasons.

No I/O here; the hub's endpoint and the thin-camera client (`edge.stream_client`) both import it, like `facefleet.wire`.
The client's first message is a text `Hello`; every later message is one binary JPEG frame. The hub answers
with text messages, each a `FrameResult` (one per processed frame) or an `EventMessage` (one per track
event, the same `facefleet.wire.TrackEvent` the hub publishes on MQTT). Frames that arrive while the
previous one is processed replace each other: only the newest waits, the others are counted as dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from facefleet.wire import DEVICE_ID_PATTERN, TrackEvent

PATH = "/api/stream"

# Close codes: the standard ones where one fits, 4001 (private range) for a client that does not read.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # the hub stops
CLOSE_UNSUPPORTED = 1003  # a text message where a frame belongs, or a frame that is not a JPEG
CLOSE_BAD_DATA = 1007  # a JPEG whose header cannot be read, declares too many pixels, or lies about its size
CLOSE_POLICY = 1008  # no hello in time, a bad hello, an unknown token, a token not allowed to stream
CLOSE_TOO_BIG = 1009  # a frame over `stream.max_frame_bytes`
CLOSE_TRY_LATER = 1013  # `stream.max_streams` streams are open
CLOSE_SLOW_READER = 4001  # `stream.send_queue` results wait unread


class Hello(BaseModel):
    """First message. token: a `device` token (the stream is that device) or an `admin` token, which must
    name the `device` it streams as. camera: the camera name in the events (as in an agent's config)."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=256)
    camera: str = Field("cam0", pattern=DEVICE_ID_PATTERN.pattern)
    device: str | None = Field(None, pattern=DEVICE_ID_PATTERN.pattern)


class Ready(BaseModel):
    """The hub's answer to a good hello: who the stream is, and what it matches against."""

    type: Literal["ready"] = "ready"
    device_id: str
    camera: str
    model_id: str
    gallery_version: str
    max_frame_bytes: int
    max_frame_pixels: int


class Face(BaseModel):
    """One tracked face in a frame. xyxy: box in frame pixels; active: the track counts for the outside world
    (past `tracker.activation_frames`); person_id/name: None while unknown; confidence: cosine of the track's
    template to the named (or best) person; confirmed: the name has held long enough to be announced."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    active: bool
    person_id: str | None
    name: str | None
    confidence: float
    confirmed: bool


class FrameResult(BaseModel):
    """One processed frame. frame: the frame's number on this stream (1 = the first binary message);
    dropped: frames replaced by a newer one before they were processed, since the stream opened;
    process_ms: the hub's time on this frame."""

    type: Literal["frame"] = "frame"
    frame: int
    width: int
    height: int
    faces: list[Face]
    dropped: int
    process_ms: float


class EventMessage(BaseModel):
    """A track event, as published on `<prefix>/<device>/events`."""

    type: Literal["event"] = "event"
    event: TrackEvent


StreamMessage = Annotated[Ready | FrameResult | EventMessage, Field(discriminator="type")]


REPLY: TypeAdapter[Ready | FrameResult | EventMessage] = TypeAdapter(StreamMessage)
"""Parses whatever the hub sends: `REPLY.validate_json(text)`."""
