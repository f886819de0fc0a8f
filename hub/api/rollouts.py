"""Rollouts: announce a gallery or model version to devices (canaries first) and follow each device."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import (
    AdminScope,
    ArtifactsDep,
    BrokerRolloutsDep,
    DevicesDep,
    ReleasesDep,
    RolloutsDep,
    SettingsDep,
)
from hub.api.schemas import ReleaseCreate, ReleasePublic, RolloutCreate, RolloutPublic, public
from hub.fleet.release_rollout import ReleaseRollout
from hub.fleet.rollout import Rollout, RolloutError

router = APIRouter(prefix="/api/rollouts", tags=["rollouts"])


def rollout_public(rollout: Rollout) -> RolloutPublic:
    return public(RolloutPublic, rollout)


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_rollout(
    body: RolloutCreate,
    rollouts: BrokerRolloutsDep,
    artifacts: ArtifactsDep,
    devices: DevicesDep,
    settings: SettingsDep,
    _: AdminScope,
) -> RolloutPublic:
    """Targets: `devices`, else every device of `group`, else all devices. The artifact must exist and not
    be revoked.

    A gallery goes as it is to the targets running its model; targets on another model get a gallery built
    now for their model, in a rollout of its own (`also_started`; each with the canaries among its targets).
    The answer is the rollout of the requested version, or the first of the others when no target runs it.
    """
    artifacts.servable(body.kind, body.version)
    targets = body.devices or [d.id for d in devices.registered(body.group)]
    timeout_s = body.canary_timeout_s or settings.canary_timeout_s
    started = await run_in_threadpool(
        rollouts.start_planned, body.kind, body.version, targets, body.canaries, timeout_s
    )
    return rollout_public(started[0]).model_copy(update={"also_started": [r.id for r in started[1:]]})


@router.post("/releases", status_code=status.HTTP_201_CREATED)
async def start_release(
    body: ReleaseCreate,
    _broker: BrokerRolloutsDep,
    releases: ReleasesDep,
    artifacts: ArtifactsDep,
    devices: DevicesDep,
    settings: SettingsDep,
    _: AdminScope,
) -> ReleasePublic:
    """A retrained model and its gallery: the model to every target (staged), then the gallery, canaries first."""
    model = artifacts.servable("model", body.model_version)
    gallery = artifacts.servable("gallery", body.gallery_version)
    if gallery.model_id != model.model_id:
        raise RolloutError(f"gallery {gallery.version} is for model {gallery.model_id}, not {model.model_id}")
    targets = body.devices or [d.id for d in devices.registered(body.group)]
    timeout_s = body.canary_timeout_s or settings.canary_timeout_s
    release = await run_in_threadpool(
        releases.start, body.model_version, body.gallery_version, targets, body.canaries, timeout_s
    )
    return release_public(release)


@router.get("/releases")
def list_releases(releases: ReleasesDep, _: AdminScope) -> list[ReleasePublic]:
    return [release_public(r) for r in releases.started()]


def release_public(release: ReleaseRollout) -> ReleasePublic:
    return public(ReleasePublic, release)


@router.get("")
def list_rollouts(rollouts: RolloutsDep, _: AdminScope) -> list[RolloutPublic]:
    return [rollout_public(r) for r in rollouts.started()]


@router.post("/{rollout_id}/halt")
def halt_rollout(rollout_id: str, rollouts: RolloutsDep, _: AdminScope) -> RolloutPublic:
    """Stop announcing: devices still pending never get the version (422 once finished or halted)."""
    return rollout_public(rollouts.halt(rollout_id))


@router.get("/{rollout_id}")
def get_rollout(rollout_id: str, rollouts: RolloutsDep, _: AdminScope) -> RolloutPublic:
    """The rollout's state and each device's progress."""
    return rollout_public(rollouts.get(rollout_id))
