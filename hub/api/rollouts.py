"""Rollouts: announce a gallery or model version to devices (canaries first) and follow each device."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import AdminScope, BrokerHubDep, HubDep
from hub.api.schemas import RolloutCreate, RolloutPublic
from hub.rollout import Rollout

router = APIRouter(prefix="/api/rollouts", tags=["rollouts"])


def rollout_public(rollout: Rollout) -> RolloutPublic:
    return RolloutPublic.model_validate(dataclasses.asdict(rollout))


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_rollout(body: RolloutCreate, hub: BrokerHubDep, _: AdminScope) -> RolloutPublic:
    """Targets: `devices`, else every device of `group`, else all devices. The artifact must exist."""
    hub.artifacts.get(body.kind, body.version)
    targets = body.devices or [d.id for d in hub.devices.list(body.group)]
    timeout_s = body.canary_timeout_s or hub.settings.canary_timeout_s
    rollout = await run_in_threadpool(
        hub.rollouts.start, body.kind, body.version, targets, body.canaries, timeout_s
    )
    return rollout_public(rollout)


@router.get("")
def list_rollouts(hub: HubDep, _: AdminScope) -> list[RolloutPublic]:
    return [rollout_public(r) for r in hub.rollouts.list()]


@router.get("/{rollout_id}")
def get_rollout(rollout_id: str, hub: HubDep, _: AdminScope) -> RolloutPublic:
    """The rollout's state and each device's progress."""
    return rollout_public(hub.rollouts.get(rollout_id))
