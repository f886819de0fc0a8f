"""Devices: the registry built from their MQTT status messages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import AdminScope, HubDep
from hub.api.schemas import CountPublic, DevicePublic, public

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("")
def list_devices(
    hub: HubDep, _: AdminScope, group: Annotated[str | None, Query()] = None
) -> list[DevicePublic]:
    """Every device seen: online/offline (last will), versions running, last seen."""
    return [public(DevicePublic, d) for d in hub.devices.registered(group)]


@router.delete("/{device_id}")
def forget_device(device_id: str, hub: HubDep, _: AdminScope) -> CountPublic:
    """Forget a decommissioned device: its registry row, its retained status on the broker and its Home
    Assistant sensors (a device that is still running registers again with its next status). 404 if unknown."""
    hub.forget_device(device_id)
    return CountPublic(deleted=1)
