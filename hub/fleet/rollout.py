"""Rollouts: announce an artifact version to devices, canaries first, and follow what each device reports.

A plain state machine over SQLite rows; the transport is a `publish(topic, payload)` callable, so the
same code runs behind paho in the hub and in tests.

Rollout states: `canary` (waiting for the canary devices), `rolling` (announced to the rest),
`completed` (every device applied), `completed_with_failures` (every device finished, some failed),
`halted` (a canary failed, rolled back, or did not apply within the canary timeout: the rest were never
announced). Device states: `pending` (not announced yet), `announced`, then what the device reports:
`downloading`, `verifying`, `applied`, `failed`, `rolled_back`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from facefleet.wire import DEVICE_ID_PATTERN, ArtifactKind, Topics, UpdateAnnouncement, UpdateState
from hub.db import HubDb, utc_now
from hub.errors import NotFoundError
from hub.records import Record

Publish = Callable[[str, bytes], None]
UrlsFor = Callable[[ArtifactKind, str], tuple[str, str]]
FAILED = frozenset({"failed", "rolled_back"})
FINISHED = FAILED | {"applied"}


MAX_TARGETS = 10_000  # devices one rollout names at most (explicitly or through a group)


class RolloutError(ValueError):
    """A rollout that cannot start (no devices, unknown canary, a target that is not a device id)."""


RolloutState = Literal["canary", "rolling", "completed", "completed_with_failures", "halted"]
DeviceRolloutState = Literal["pending", "announced", "downloading", "verifying", "applied", "failed", "rolled_back"]


class DeviceProgress(Record):
    device_id: str
    canary: bool
    state: DeviceRolloutState
    detail: str
    updated: str


class Rollout(Record):
    id: str
    kind: ArtifactKind
    version: str
    state: RolloutState
    detail: str
    created: str
    updated: str
    devices: list[DeviceProgress]


def check_targets(devices: list[str], canaries: list[str]) -> None:
    """Refuse (RolloutError) targets that could not be announced to: none, more than MAX_TARGETS, a name that
    is not a device id (`#`, `+` and `/` would make another topic), canaries outside the targets."""
    if not devices:
        raise RolloutError("no target devices")
    if len(devices) > MAX_TARGETS:
        raise RolloutError(f"{len(devices)} target devices; one rollout takes at most {MAX_TARGETS}")
    if bad := [d for d in [*devices, *canaries] if not DEVICE_ID_PATTERN.fullmatch(d)][:3]:
        raise RolloutError(f"{', '.join(map(repr, bad))}: not a device id")
    if set(canaries) - set(devices):
        raise RolloutError(f"canaries {sorted(set(canaries) - set(devices))[:10]} are not among the targets")


class RolloutEngine:
    """Starts rollouts and advances them on device reports (`handle_state`) and time (`tick`)."""

    def __init__(
        self,
        hub_db: HubDb,
        topics: Topics,
        publish: Publish,
        urls_for: UrlsFor,
        clock: Callable[[], datetime] = utc_now,
        plan_galleries: Callable[[str, list[str]], list[tuple[str, list[str]]]] | None = None,
    ) -> None:
        """plan_galleries: (gallery version, targets) -> [(version, its targets)], a gallery per model the
        targets run (`hub.artifacts.galleries`); without it a gallery goes to every target as it is."""
        self.hub_db, self.topics, self.publish, self.urls_for = hub_db, topics, publish, urls_for
        self.clock = clock
        self.plan_galleries = plan_galleries

    def start_planned(
        self, kind: ArtifactKind, version: str, devices: list[str], canaries: list[str], canary_timeout_s: float
    ) -> list[Rollout]:
        """One rollout, or for a gallery one per model the targets run (`plan_galleries`), each with the
        canaries among its targets. The targets are checked before any gallery is built for them."""
        check_targets(devices, canaries)
        plan = (
            self.plan_galleries(version, devices) if kind == "gallery" and self.plan_galleries else [(version, devices)]
        )
        return [
            self._insert(kind, v, group, [c for c in canaries if c in group], canary_timeout_s) for v, group in plan
        ]

    def start(
        self,
        kind: ArtifactKind,
        version: str,
        devices: list[str],
        canaries: list[str],
        canary_timeout_s: float,
    ) -> Rollout:
        """One rollout of `version` to `devices` as it is (a release's phases, `hub.fleet.release_rollout`)."""
        check_targets(devices, canaries)
        return self._insert(kind, version, devices, canaries, canary_timeout_s)

    def _insert(
        self, kind: ArtifactKind, version: str, devices: list[str], canaries: list[str], canary_timeout_s: float
    ) -> Rollout:
        """Store a checked rollout and announce it to its canaries (or every target when there are none)."""
        rollout_id, now = uuid.uuid4().hex[:12], self.clock().isoformat()
        state = "canary" if canaries else "rolling"
        with self.hub_db.transaction() as db:
            db.insert(
                "rollouts",
                {
                    "id": rollout_id,
                    "kind": kind,
                    "version": version,
                    "state": state,
                    "detail": "",
                    "canary_timeout_s": canary_timeout_s,
                    "created": now,
                    "phase_started": now,
                    "updated": now,
                },
            )
            db.insert_all(
                "rollout_devices",
                [
                    {
                        "rollout_id": rollout_id,
                        "device_id": d,
                        "canary": int(d in canaries),
                        "state": "pending",
                        "detail": "",
                        "updated": now,
                    }
                    for d in devices
                ],
            )
        self._announce(rollout_id, canaries or devices)
        return self.get(rollout_id)

    def _announce(self, rollout_id: str, devices: list[str]) -> None:
        rollout = self.get(rollout_id)
        manifest_url, artifact_url = self.urls_for(rollout.kind, rollout.version)
        message = UpdateAnnouncement(
            rollout_id=rollout_id,
            kind=rollout.kind,
            version=rollout.version,
            manifest_url=manifest_url,
            artifact_url=artifact_url,
            ts=self.clock(),
        )
        with self.hub_db.transaction() as db:
            for device in devices:
                db.execute(
                    "UPDATE rollout_devices SET state = 'announced', updated = ? WHERE rollout_id = ? "
                    "AND device_id = ? AND state = 'pending'",
                    [self.clock().isoformat(), rollout_id, device],
                )
        for device in devices:
            self.publish(self.topics.updates(device), message.model_dump_json().encode())

    def handle_state(self, report: UpdateState) -> Rollout | None:
        """Record one device report and advance its rollout.

        Only a report for a rollout of the same kind and version that announced to that device is
        recorded; anything else (unknown rollout, a device it does not target or has not announced to
        yet) changes nothing and answers None.
        """
        with self.hub_db.lock:  # record and advance as one step: two reports must not both announce
            return self._handle_state(report)

    def _handle_state(self, report: UpdateState) -> Rollout | None:
        with self.hub_db.transaction() as db:
            found = db.execute(
                "UPDATE rollout_devices SET state = ?, detail = ?, updated = ? WHERE rollout_id = ? "
                "AND device_id = ? AND state != 'pending' "
                "AND EXISTS (SELECT 1 FROM rollouts WHERE id = ? AND kind = ? AND version = ?)",
                [
                    report.state,
                    report.detail[:500],
                    self.clock().isoformat(),
                    report.rollout_id,
                    report.device_id,
                    report.rollout_id,
                    report.kind,
                    report.version,
                ],
            ).rowcount
        if not found:
            return None
        self._advance(report.rollout_id)
        return self.get(report.rollout_id)

    def _advance(self, rollout_id: str) -> None:
        rollout = self.get(rollout_id)
        canaries = [d for d in rollout.devices if d.canary]
        if rollout.state == "canary":
            failed = [d.device_id for d in canaries if d.state in FAILED]
            if failed:
                self._set_state(rollout_id, "halted", f"canary {', '.join(failed)} failed")
            elif all(d.state == "applied" for d in canaries):
                self._set_state(rollout_id, "rolling", "canaries applied")
                self._announce(rollout_id, [d.device_id for d in rollout.devices if not d.canary])
                self._advance(rollout_id)
        elif rollout.state == "rolling" and all(d.state in FINISHED for d in rollout.devices):
            failed = [d.device_id for d in rollout.devices if d.state in FAILED]
            self._set_state(
                rollout_id,
                "completed_with_failures" if failed else "completed",
                f"failed: {', '.join(failed)}" if failed else "",
            )

    def tick(self) -> list[str]:
        """Halt canary phases past their timeout. Returns the ids of rollouts halted now."""
        with self.hub_db.read() as db:
            rows = db.execute(
                "SELECT id, phase_started, canary_timeout_s FROM rollouts WHERE state = 'canary'"
            ).fetchall()
        halted = []
        for rollout_id, started, timeout_s in rows:
            if self.clock() - datetime.fromisoformat(started) > timedelta(seconds=timeout_s):
                self._set_state(rollout_id, "halted", f"canaries did not all apply within {timeout_s:g} s")
                halted.append(rollout_id)
        return halted

    def halt(self, rollout_id: str) -> Rollout:
        """Stop a rollout an operator no longer trusts: devices not announced yet never will be (devices already
        announced finish what they started; roll back by rolling out the previous version). RolloutError when
        it has already finished or halted; NotFoundError when unknown."""
        with self.hub_db.lock:  # not between a device report and the announcement it triggers
            rollout = self.get(rollout_id)
            if rollout.state not in ("canary", "rolling"):
                raise RolloutError(f"rollout {rollout_id} is {rollout.state}; only a running rollout halts")
            self._set_state(rollout_id, "halted", "halted by an operator")
        return self.get(rollout_id)

    def _set_state(self, rollout_id: str, state: str, detail: str) -> None:
        now = self.clock().isoformat()
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE rollouts SET state = ?, detail = ?, phase_started = ?, updated = ? WHERE id = ?",
                [state, detail, now, now, rollout_id],
            )

    def targets(self, device_id: str, kind: str, version: str) -> bool:
        """True when a rollout of this artifact has `device_id` among its targets (so it may download it)."""
        with self.hub_db.read() as db:
            row = db.execute(
                "SELECT 1 FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id "
                "WHERE d.device_id = ? AND r.kind = ? AND r.version = ? LIMIT 1",
                [device_id, kind, version],
            ).fetchone()
        return row is not None

    def get(self, rollout_id: str) -> Rollout:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM rollouts WHERE id = ?", [rollout_id]))
            devices = [
                DeviceProgress.model_validate(r)
                for r in db.query("SELECT * FROM rollout_devices WHERE rollout_id = ? ORDER BY device_id", [rollout_id])
            ]
        if not rows:
            raise NotFoundError(f"no rollout {rollout_id}")
        return Rollout.model_validate({**rows[0], "devices": devices})

    def started(self) -> list[Rollout]:
        """Every rollout started, newest first."""
        with self.hub_db.read() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM rollouts ORDER BY created DESC").fetchall()]
        return [self.get(i) for i in ids]
