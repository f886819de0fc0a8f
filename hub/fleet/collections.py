"""Enrollment at a device: an operator asks a device's camera for the centre face, the device uploads its best
crops, and they wait for the operator's decision before any of them becomes a sample.

A collection goes `requested` (the request is on its way, with a one-use `collect` token bound to the
device) -> `pending` (the crops are stored here, the token is revoked) -> `confirmed` (the crops went into
the library through the normal enrollment path) or `rejected` (deleted); a request never answered, or crops
never decided on, become `expired` (crops deleted). The label is kept here only: the device never learns
whom it is collecting.

Crops live in `<data_dir>/collections/<id>/NN.jpg`, written into a temporary folder and renamed into place
before the row says `pending`; a folder whose collection is not pending (a crash between the two) is
removed by the next sweep.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Literal

from facefleet.wire import MAX_CROP_BYTES, CollectRequest
from hub.db import HubDb, now_iso, utc_now
from hub.errors import ConflictError, NotFoundError
from hub.fleet.devices import DeviceRegistry
from hub.records import Record
from hub.settings import CollectConfig
from hub.tokens import TokenInfo, TokenStore
from models.imageio import ImageError, read_header

CollectionState = Literal["requested", "pending", "confirming", "confirmed", "rejected", "expired"]
MAX_CROP_SIDE_PX = 512  # device crops are 112 px; anything much larger is not a crop


class Collection(Record):
    """One request for crops from a device's camera, and what came of it."""

    id: str
    device_id: str
    camera: str
    label: str
    seconds: float
    max_crops: int
    state: CollectionState
    crops: int
    detail: str
    requested_by: str
    created: str
    expires: str
    updated: str


class UploadRefused(ValueError):
    """The upload is not one this collection accepts (422: counts, sizes, not JPEG crops)."""


class TokenMismatch(PermissionError):
    """The token is not this collection's, or the collection takes no upload any more (403)."""


@dataclass(frozen=True)
class CollectionAsk:
    """What an operator asks for."""

    device_id: str
    camera: str
    label: str
    seconds: float
    max_crops: int


def check_crop(jpeg: bytes) -> None:
    """Refuse, from its header alone, anything that is not a small JPEG (UploadRefused)."""
    if not jpeg or len(jpeg) > MAX_CROP_BYTES:
        raise UploadRefused(f"a crop is {len(jpeg)} bytes; crops are 1 to {MAX_CROP_BYTES} bytes")
    try:
        header = read_header(BytesIO(jpeg))
    except ImageError as exc:
        raise UploadRefused(f"a crop is not an image: {exc}") from exc
    if header.format != "JPEG" or max(header.width, header.height) > MAX_CROP_SIDE_PX:
        raise UploadRefused(f"a crop is {header.describe()}; crops are JPEGs of at most {MAX_CROP_SIDE_PX} px")


class Collections:
    def __init__(
        self, hub_db: HubDb, tokens: TokenStore, devices: DeviceRegistry, root: Path, config: CollectConfig
    ) -> None:
        self.hub_db = hub_db
        self.tokens = tokens
        self.devices = devices
        self.root = root
        self.config = config

    def ask(self, ask: CollectionAsk, requested_by: str) -> tuple[Collection, CollectRequest]:
        """Record a request and make its token; the caller sends the returned message to the device.

        Raises NotFoundError for an unknown device or camera, ConflictError for an offline device."""
        device = next((d for d in self.devices.registered() if d.id == ask.device_id), None)
        if device is None:
            raise NotFoundError(f"no device {ask.device_id}")
        if ask.camera not in device.cameras:
            raise NotFoundError(f"device {ask.device_id} has no camera {ask.camera!r} (it has {device.cameras})")
        if device.state != "online":
            raise ConflictError(f"device {ask.device_id} is offline: it cannot collect now")
        now = utc_now()
        expires = now + timedelta(seconds=ask.seconds + self.config.upload_grace_s)
        collection_id = uuid.uuid4().hex
        token, secret = self.tokens.create_collect(f"collect {collection_id}", ask.device_id, expires)
        row = {
            "id": collection_id,
            "device_id": ask.device_id,
            "camera": ask.camera,
            "label": ask.label,
            "seconds": ask.seconds,
            "max_crops": ask.max_crops,
            "token_id": token.id,
            "state": "requested",
            "crops": 0,
            "detail": "",
            "requested_by": requested_by,
            "created": now.isoformat(),
            "expires": expires.isoformat(),
            "updated": now.isoformat(),
        }
        with self.hub_db.transaction() as db:
            db.insert("collections", row)
        message = CollectRequest(
            collection_id=collection_id,
            camera=ask.camera,
            seconds=ask.seconds,
            max_crops=ask.max_crops,
            token=secret,
            expires=expires,
            ts=now,
        )
        return Collection.model_validate(row), message

    def get(self, collection_id: str) -> Collection:
        with self.hub_db.read() as db:
            row = next(iter(db.query("SELECT * FROM collections WHERE id = ?", [collection_id])), None)
        if row is None:
            raise NotFoundError(f"no collection {collection_id}")
        return Collection.model_validate(dict(row))

    def listed(self, state: CollectionState | None = None) -> list[Collection]:
        """Collections, newest first (of one state when given)."""
        sql = "SELECT * FROM collections" + (" WHERE state = ?" if state else "") + " ORDER BY created DESC"
        with self.hub_db.read() as db:
            return [Collection.model_validate(dict(r)) for r in db.query(sql, [state] if state else [])]

    def upload_limit(self, collection_id: str) -> int:
        """How many crops this collection takes."""
        return self.get(collection_id).max_crops

    def store_upload(self, collection_id: str, token: TokenInfo, crops: list[bytes]) -> Collection:
        """Store the device's crops and spend its token, or store nothing.

        Raises TokenMismatch (not this collection's token, or not `requested` any more), UploadRefused."""
        collection = self.check_token(collection_id, token)
        if not 1 <= len(crops) <= collection.max_crops:
            raise UploadRefused(f"{len(crops)} crops; this collection takes 1 to {collection.max_crops}")
        for jpeg in crops:
            check_crop(jpeg)
        tmp, final = self.root / f"{collection_id}.{uuid.uuid4().hex[:8]}.tmp", self.root / collection_id
        tmp.mkdir(parents=True)
        try:
            for n, jpeg in enumerate(crops):
                (tmp / f"{n:02d}.jpg").write_bytes(jpeg)
            with self.hub_db.transaction() as db:
                self.check_token(collection_id, token)  # again, under the lock: a racing upload lost
                shutil.rmtree(final, ignore_errors=True)  # left by a crash before a commit
                tmp.rename(final)
                expires = (utc_now() + timedelta(seconds=self.config.pending_ttl_s)).isoformat()
                db.execute(
                    "UPDATE collections SET state = 'pending', crops = ?, expires = ?, updated = ? WHERE id = ?",
                    [len(crops), expires, now_iso(), collection_id],
                )
                db.execute("UPDATE tokens SET revoked = 1 WHERE id = ?", [token.id])
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if final.exists() and self.get(collection_id).state != "pending":
                shutil.rmtree(final, ignore_errors=True)
            raise
        return self.get(collection_id)

    def check_token(self, collection_id: str, token: TokenInfo) -> Collection:
        """The collection `token` was made for, while it takes its upload; else TokenMismatch."""
        with self.hub_db.read() as db:
            row = next(
                iter(db.query("SELECT * FROM collections WHERE id = ? AND token_id = ?", [collection_id, token.id])),
                None,
            )
        if row is None or row["device_id"] != token.device_id:
            raise TokenMismatch(f"this token is not the one of collection {collection_id}")
        if row["state"] != "requested":
            raise TokenMismatch(f"collection {collection_id} is {row['state']}: it takes no upload")
        return Collection.model_validate(dict(row))

    def crop_paths(self, collection_id: str | Collection) -> list[Path]:
        """The stored crops of a pending collection, in upload order."""
        collection = self.get(collection_id) if isinstance(collection_id, str) else collection_id
        if collection.state not in ("pending", "confirming"):
            return []
        return [self.root / collection.id / f"{n:02d}.jpg" for n in range(collection.crops)]

    def crops(self, collection_id: str) -> list[tuple[str, bytes]]:
        """(file name, JPEG bytes) of each crop, as the enrollment path reads crops."""
        return [(f"{collection_id[:8]}-{p.name}", p.read_bytes()) for p in self.crop_paths(collection_id)]

    def claim(self, collection_id: str) -> list[tuple[str, bytes]]:
        """Take a pending collection for confirming (`confirming`: a second confirm gets ConflictError) and
        return its crops; the caller then calls `confirmed` or, when the enrollment refused them, `release`."""
        with self.hub_db.transaction() as db:
            taken = db.execute(
                "UPDATE collections SET state = 'confirming', updated = ? WHERE id = ? AND state = 'pending'",
                [now_iso(), collection_id],
            ).rowcount
        if not taken:
            raise ConflictError(f"collection {collection_id} is {self.get(collection_id).state}, not pending")
        return self.crops(collection_id)

    def release(self, collection_id: str, detail: str) -> None:
        """A confirm that stored nothing: the collection is pending again (the operator may reject it)."""
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE collections SET state = 'pending', detail = ?, updated = ? WHERE id = ?",
                [detail[:300], now_iso(), collection_id],
            )

    def confirmed(self, collection_id: str, samples: int) -> Collection:
        self._finish(self.get(collection_id), "confirmed", f"{samples} samples stored")
        return self.get(collection_id)

    def reject(self, collection_id: str) -> Collection:
        """Delete the crops of a pending collection, or call off a request still open (its token is revoked)."""
        with self.hub_db.transaction() as db:
            taken = db.execute(
                "UPDATE collections SET state = 'rejected', updated = ? WHERE id = ? "
                "AND state IN ('requested', 'pending')",
                [now_iso(), collection_id],
            ).rowcount
        collection = self.get(collection_id)
        if not taken:
            raise ConflictError(f"collection {collection_id} is {collection.state}")
        self._finish(collection, "rejected")
        return self.get(collection_id)

    def _finish(self, collection: Collection, state: CollectionState, detail: str = "") -> None:
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE collections SET state = ?, detail = ?, updated = ? WHERE id = ?",
                [state, detail, now_iso(), collection.id],
            )
            db.execute(
                "UPDATE tokens SET revoked = 1 WHERE id = (SELECT token_id FROM collections WHERE id = ?)",
                [collection.id],
            )
        shutil.rmtree(self.root / collection.id, ignore_errors=True)

    def expire(self, now: datetime | None = None) -> int:
        """Requests never answered and crops never decided on, past their expiry, become `expired` (crops
        deleted); folders of no pending collection go. Returns how many expired."""
        at = (now or utc_now()).isoformat()
        with self.hub_db.read() as db:
            rows = db.query(
                "SELECT * FROM collections WHERE state IN ('requested', 'pending', 'confirming') AND expires <= ?", [at]
            )
            stale = [Collection.model_validate(dict(r)) for r in rows]
        for collection in stale:
            self._finish(collection, "expired", f"{collection.state} past {collection.expires}")
        self._remove_orphans()
        return len(stale)

    def _remove_orphans(self) -> None:
        if not self.root.is_dir():
            return
        with self.hub_db.read() as db:
            pending = {r["id"] for r in db.query("SELECT id FROM collections WHERE state IN ('pending', 'confirming')")}
            open_ids = {r["id"] for r in db.query("SELECT id FROM collections WHERE state = 'requested'")}
        for folder in self.root.iterdir():
            if folder.name not in pending and folder.name.split(".")[0] not in open_ids:
                shutil.rmtree(folder, ignore_errors=True)  # an upload under way writes <id>.<n>.tmp
