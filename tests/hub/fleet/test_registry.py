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


def test_a_device_cannot_choose_its_group(hub_server) -> None:  # type: ignore[no-untyped-def]
    """Group membership is the registry's: a status claiming a group changes nothing; an admin assigns it."""
    registry = hub_server.hub.devices
    registry.update(DeviceStatus(device_id="lobby-1", state="online", group="door", cameras=["hall"]))
    assert [d.group for d in registry.registered()] == ["default"]  # a new device, whatever it claims
    with hub_server.client(hub_server.admin) as admin:
        assert admin.patch("/api/devices/lobby-1", json={"group": "lobby"}).json()["group"] == "lobby"
        assert admin.patch("/api/devices/nobody", json={"group": "lobby"}).status_code == 404
        assert admin.patch("/api/devices/lobby-1", json={"group": "Lobby/#"}).status_code == 422
    with hub_server.client(hub_server.enroll) as reader:
        assert reader.patch("/api/devices/lobby-1", json={"group": "door"}).status_code == 403
    registry.update(DeviceStatus(device_id="lobby-1", state="online", group="door", cameras=["hall"]))
    assert [(d.group, d.cameras) for d in registry.registered("lobby")] == [("lobby", ["hall"])]
    assert registry.registered("door") == []  # its claim joins it to no rollout of that group
