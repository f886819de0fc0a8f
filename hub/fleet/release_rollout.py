"""Rolling out a retrained model: the model to every target first, then its gallery, canaries first.

A device stages a new model (downloads, verifies, proves it runs) and reports `verifying`; only the gallery
made with that model switches the pair in. So the model goes to every target at once (staging changes
nothing a device does), and the gallery, which is what switches, goes through the canary phase: canaries
switch first and health-check; one that fails rolls back on the device and halts the gallery rollout, and
the rest of the fleet never switches. The gallery phase starts only once every target has staged the
model: each device has one retained announcement topic, so a device that was offline would otherwise see
the gallery before the model it needs. Releases are rows of the `releases` table, so a hub restarted while
one waits for its model to be staged picks it up again at its first tick.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from hub.db import HubDb, now_iso
from hub.fleet.rollout import FAILED, RolloutEngine, check_targets
from hub.records import Record

log = logging.getLogger(__name__)

STAGED = frozenset({"verifying", "applied"})
ReleaseState = Literal["staging", "switching", "aborted"]


class ReleaseRollout(Record):
    """One release being rolled out: a retrained model staged on every target, then its gallery."""

    id: str
    model_version: str
    gallery_version: str
    targets: tuple[str, ...]
    canaries: tuple[str, ...]
    canary_timeout_s: float
    model_rollout_id: str
    gallery_rollout_id: str  # '' until every target has staged the model
    state: ReleaseState
    detail: str


class ReleaseRollouts:
    def __init__(self, hub_db: HubDb, engine: RolloutEngine) -> None:
        self.hub_db = hub_db
        self.engine = engine

    def start(
        self, model_version: str, gallery_version: str, targets: list[str], canaries: list[str], canary_timeout_s: float
    ) -> ReleaseRollout:
        check_targets(targets, canaries)  # the gallery phase's canaries too, before anything is announced
        model = self.engine.start("model", model_version, targets, [], canary_timeout_s)
        release = ReleaseRollout(
            id=uuid.uuid4().hex[:12],
            model_version=model_version,
            gallery_version=gallery_version,
            targets=tuple(targets),
            canaries=tuple(canaries),
            canary_timeout_s=canary_timeout_s,
            model_rollout_id=model.id,
            gallery_rollout_id="",
            state="staging",
            detail="",
        )
        now = now_iso()
        with self.hub_db.transaction() as db:
            db.insert("releases", {**_row(release), "created": now, "updated": now})
        return release

    def tick(self) -> None:
        """Start the gallery phase of releases whose model every target has staged; abort on a failure."""
        for release in [r for r in self.started() if r.state == "staging"]:
            devices = self.engine.get(release.model_rollout_id).devices
            failed = [d.device_id for d in devices if d.state in FAILED]
            if failed:
                self._update(release, state="aborted", detail=f"model not staged on {', '.join(failed)}")
            elif all(d.state in STAGED for d in devices):
                gallery = self.engine.start(
                    "gallery",
                    release.gallery_version,
                    list(release.targets),
                    list(release.canaries),
                    release.canary_timeout_s,
                )
                log.info("release %s: model staged everywhere, gallery rollout %s", release.id, gallery.id)
                self._update(
                    release, state="switching", gallery_rollout_id=gallery.id, detail="model staged on every target"
                )

    def started(self) -> list[ReleaseRollout]:
        """Every release started, oldest first."""
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM releases ORDER BY created"))
        return [_release(r) for r in rows]

    def _update(self, release: ReleaseRollout, **changes: object) -> None:
        changed = release.model_copy(update=changes)
        with self.hub_db.transaction() as db:
            db.update("releases", {"id": release.id}, {**_row(changed), "updated": now_iso()})


def _row(release: ReleaseRollout) -> dict[str, Any]:
    row = release.model_dump()
    return {**row, "targets": json.dumps(row["targets"]), "canaries": json.dumps(row["canaries"])}


def _release(row: dict[str, Any]) -> ReleaseRollout:
    return ReleaseRollout.model_validate(
        {**row, "targets": json.loads(row["targets"]), "canaries": json.loads(row["canaries"])}
    )
