"""Devices: the registry built from their MQTT status messages."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query

from hub.api.deps import AdminScope, HubDep
from hub.api.schemas import DevicePublic

router = APIRouter(prefix="/api/devices", tags=["devices"])


@router.get("")
def list_devices(
    hub: HubDep, _: AdminScope, group: Annotated[str | None, Query()] = None
) -> list[DevicePublic]:
    """Every device seen: online/offline (last will), versions running, last seen."""
    return [DevicePublic(**dataclasses.asdict(d)) for d in hub.devices.list(group)]
