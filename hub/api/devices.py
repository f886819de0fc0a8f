"""Devices: the registry built from their MQTT status messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import AdminScope, DevicesDep, FleetDep
from hub.api.schemas import CountPublic, DevicePublic, DeviceUpdate, public
from hub.errors import NotFoundError

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("")
def list_devices(
    devices: DevicesDep, _: AdminScope, group: Annotated[str | None, Query()] = None
) -> list[DevicePublic]:
    """Every device seen: online/offline (last will), versions running, last seen, latest stats."""
    stats = devices.latest_stats()
    return [public(DevicePublic, d, stats=stats.get(d.id)) for d in devices.registered(group)]


@router.patch("/{device_id}")
def set_group(device_id: str, body: DeviceUpdate, devices: DevicesDep, _: AdminScope) -> DevicePublic:
    """Put a device in a group: the group's rollouts (and galleries) reach it. A device's status cannot;
    the group its agent's config names is ignored. 404 if unknown."""
    if not devices.set_group(device_id, body.group):
        raise NotFoundError(f"no device {device_id}")
    return public(DevicePublic, next(d for d in devices.registered() if d.id == device_id))


@router.delete("/{device_id}")
def forget_device(device_id: str, fleet: FleetDep, _: AdminScope) -> CountPublic:
    """Forget a decommissioned device: its registry row, its retained status on the broker and its Home
    Assistant sensors (a device that is still running registers again with its next status). 404 if unknown."""
    fleet.forget_device(device_id)
    return CountPublic(deleted=1)
