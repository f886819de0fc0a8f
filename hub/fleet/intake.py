"""Device messages from MQTT: identity from the topic, bounded size, typed payloads, every refusal counted.

The broker's ACL lets a device publish only under `<prefix>/<its user name>/...`, so the topic's device
segment is the identity the broker vouches for; the `device_id` inside a payload is only a claim. A
message is refused when it is larger than `MAX_MESSAGE_BYTES` (`oversized`), does not parse
(`malformed`), carries a crop over `MAX_CROP_BYTES` (`crop_too_large`), claims another device than its
topic (`device_mismatch`), or is an update state for a rollout that never announced to that device
(`not_a_target`, decided by the rollout engine); one whose handler failed counts as `error`. Refusals are
counted by kind and reason (`facefleet_hub_mqtt_refused`) and logged with a bounded prefix of the payload
(and, for an `error`, its traceback): the first `LOG_FIRST` of each kind and reason, then every
`LOG_EVERY`th, so a flood cannot fill the log.
"""

from __future__ import annotations

import logging
import threading
from typing import Literal, TypeVar, get_args

from pydantic import ValidationError

from facefleet.wire import (
    DEVICE_ID_PATTERN,
    MAX_MESSAGE_BYTES,
    DeviceStats,
    DeviceStatus,
    TrackEvent,
    UpdateState,
)

log = logging.getLogger(__name__)

Kind = Literal["status", "stats", "events", "updates/state"]
Reason = Literal["oversized", "malformed", "crop_too_large", "device_mismatch", "not_a_target", "error"]
KINDS: tuple[Kind, ...] = get_args(Kind)
# The reasons that can happen to each kind: these are exported at 0 before the first refusal.
REASONS: dict[Kind, tuple[Reason, ...]] = {
    "status": ("oversized", "malformed", "device_mismatch", "error"),
    "stats": ("oversized", "malformed", "device_mismatch", "error"),
    "events": ("oversized", "malformed", "crop_too_large", "device_mismatch", "error"),
    "updates/state": ("oversized", "malformed", "device_mismatch", "not_a_target", "error"),
}
LOG_PREFIX_BYTES = 120
LOG_FIRST = 20
LOG_EVERY = 1000


class Refused(ValueError):
    """A device message the hub does not act on; `reason` is one of `Reason`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason


M = TypeVar("M", DeviceStatus, DeviceStats, TrackEvent, UpdateState)


def split_topic(prefix: str, topic: str) -> tuple[str, Kind] | None:
    """`<prefix>/<device>/<kind>` -> (device, kind); None for any other topic (not a device message)."""
    if not topic.startswith(prefix + "/"):
        return None
    device, _, kind = topic[len(prefix) + 1 :].partition("/")
    if kind not in KINDS or not DEVICE_ID_PATTERN.fullmatch(device):
        return None
    return device, kind


def parse_claimed(model: type[M], device_id: str, payload: bytes) -> M:
    """Parse `payload` as `model` and check that it speaks for `device_id` (the topic's device).

    Raises:
        Refused: `oversized`, `malformed`, `crop_too_large` or `device_mismatch`.
    """
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Refused("oversized", f"{len(payload)} bytes, more than {MAX_MESSAGE_BYTES}")
    try:
        record = model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["loc"] == ("best_crop_jpeg_b64",) and first["type"] == "string_too_long":
            raise Refused("crop_too_large", "best_crop_jpeg_b64 over the wire's MAX_CROP_BYTES") from exc
        raise Refused("malformed", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    if record.device_id != device_id:
        raise Refused("device_mismatch", f"payload claims device {record.device_id!r}")
    return record


class Refusals:
    """Thread-safe counts of refused device messages by (kind, reason), with rate-limited log lines."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[Kind, Reason], int] = {}

    def refuse(
        self, kind: Kind, device_id: str, exc: Refused, payload: bytes, cause: BaseException | None = None
    ) -> None:
        """Count a refusal; log it (with the traceback of `cause`, a handler's failure) when its turn comes."""
        with self._lock:
            key = (kind, exc.reason)
            count = self._counts[key] = self._counts.get(key, 0) + 1
        if count <= LOG_FIRST or count % LOG_EVERY == 0:
            log.warning(
                "refused %s from %s (%s, %d so far): %s; payload starts %r",
                kind,
                device_id,
                exc.reason,
                count,
                exc,
                payload[:LOG_PREFIX_BYTES],
                exc_info=cause,
            )

    def snapshot(self) -> dict[tuple[Kind, Reason], int]:
        """Every (kind, reason) that can happen, with its count (0 when none yet)."""
        with self._lock:
            return {(k, r): self._counts.get((k, r), 0) for k in KINDS for r in REASONS[k]}

    def total(self, kind: Kind) -> int:
        with self._lock:
            return sum(n for (k, _), n in self._counts.items() if k == kind)
