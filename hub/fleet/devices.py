"""The device registry, fed by the retained MQTT status messages (and the broker's `offline` last will).

A status reports what a device runs and its cameras; its `group` is only a claim and is not recorded:
group membership decides which rollouts (and so which galleries) a device gets, so it belongs to the
registry. A device registers in `DEFAULT_GROUP`; an admin moves it (`set_group`, `PATCH /api/devices/{id}`).
"""

from __future__ import annotations

import json
import threading

from facefleet.wire import DeviceStats, DeviceStatus
from hub.db import HubDb, now_iso
from hub.records import Record


class Device(Record):
    id: str
    state: str
    group: str
    agent_version: str
    model_id: str
    model_version: str
    gallery_version: str
    cameras: list[str]
    last_seen: str


DEFAULT_GROUP = "default"


class DeviceRegistry:
    """Devices in SQLite (from status), and the latest stats of each in memory (only of known devices, so
    the map is as bounded as the registry)."""

    def __init__(self, hub_db: HubDb) -> None:
        self.hub_db = hub_db
        self._stats: dict[str, DeviceStats] = {}
        self._stats_lock = threading.Lock()

    def record_stats(self, stats: DeviceStats) -> None:
        with self.hub_db.read() as db:
            known = db.execute("SELECT 1 FROM devices WHERE id = ?", [stats.device_id]).fetchone()
        if known:
            with self._stats_lock:
                self._stats[stats.device_id] = stats

    def latest_stats(self) -> dict[str, DeviceStats]:
        with self._stats_lock:
            return dict(self._stats)

    def update(self, status: DeviceStatus) -> bool:
        """Record a status; False when it was not recorded. An offline will keeps the versions last
        reported by the online status; an offline status of a device not registered (one just forgotten,
        whose will was still on its way) registers nothing: a device registers by coming online."""
        with self.hub_db.transaction() as db:
            row = db.execute("SELECT id FROM devices WHERE id = ?", [status.device_id]).fetchone()
            if status.state == "offline":
                if row:
                    db.execute(
                        "UPDATE devices SET state = 'offline', last_seen = ? WHERE id = ?",
                        [now_iso(), status.device_id],
                    )
                return bool(row)
            db.upsert(
                "devices",
                {
                    "id": status.device_id,
                    "state": status.state,
                    "device_group": DEFAULT_GROUP,
                    "agent_version": status.agent_version,
                    "model_id": status.model_id,
                    "model_version": status.model_version,
                    "gallery_version": status.gallery_version,
                    "cameras": json.dumps(status.cameras),
                    "last_seen": now_iso(),
                },
                pk="id",
                insert_only=["device_group"],
            )
        return True

    def set_group(self, device_id: str, group: str) -> bool:
        """Put a registered device in a group (an admin's decision); False when it is not registered."""
        with self.hub_db.transaction() as db:
            return bool(db.execute("UPDATE devices SET device_group = ? WHERE id = ?", [group, device_id]).rowcount)

    def mark_offline(self, device_id: str) -> None:
        with self.hub_db.transaction() as db:
            db.execute("UPDATE devices SET state = 'offline', last_seen = ? WHERE id = ?", [now_iso(), device_id])

    def remove(self, device_id: str) -> bool:
        """Forget a device (its rollout history stays); False when it was not registered."""
        with self.hub_db.transaction() as db:
            return bool(db.execute("DELETE FROM devices WHERE id = ?", [device_id]).rowcount)

    def set_running(self, device_id: str, kind: str, version: str) -> None:
        column = "gallery_version" if kind == "gallery" else "model_version"
        with self.hub_db.transaction() as db:
            db.execute(
                f"UPDATE devices SET {column} = ?, last_seen = ? WHERE id = ?",
                [version, now_iso(), device_id],
            )

    def models_running(self) -> set[str]:
        """The models registered devices run (their embeddings survive a switch of the hub's model)."""
        return {d.model_id for d in self.registered() if d.model_id}

    def registered(self, group: str | None = None) -> list[Device]:
        """Every registered device (of `group`), by id."""
        sql = "SELECT * FROM devices" + (" WHERE device_group = ?" if group else "") + " ORDER BY id"
        with self.hub_db.read() as db:
            rows = list(db.query(sql, [group] if group else []))
        return [
            Device.model_validate({**r, "group": r["device_group"], "cameras": json.loads(r["cameras"])}) for r in rows
        ]
