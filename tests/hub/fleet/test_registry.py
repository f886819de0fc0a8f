"""The device registry on its own: what a status records."""

from __future__ import annotations

from pathlib import Path

from facefleet.wire import DeviceStatus
from hub.db import HubDb
from hub.fleet.devices import DeviceRegistry


def test_an_offline_status_of_an_unknown_device_registers_nothing(db_target: Path | str) -> None:
    """A forgotten device's last will can arrive after the forget: it must not bring the device back."""
    hub_db = HubDb(db_target)
    hub_db.migrate()
    registry = DeviceRegistry(hub_db)
    assert registry.update(DeviceStatus(device_id="door-1", state="online", cameras=["door"]))
    assert registry.remove("door-1")
    assert not registry.update(DeviceStatus(device_id="door-1", state="offline"))
    assert registry.registered() == []
    assert registry.update(DeviceStatus(device_id="door-1", state="online", cameras=["door"]))  # it comes back
    assert registry.update(DeviceStatus(device_id="door-1", state="offline"))
    assert [(d.id, d.state, d.cameras) for d in registry.registered()] == [("door-1", "offline", ["door"])]
