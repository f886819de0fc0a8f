"""Shared dependencies: the hub's parts and token checks, as `Annotated` aliases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from facefleet.wire import ArtifactKind
from hub.artifacts.store import ArtifactStore
from hub.library.library import Library
from hub.service import Hub
from hub.tokens import TokenInfo

_bearer = HTTPBearer(auto_error=False, description="API token: `facefleet-hub token create --scope ...`")


def get_hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def get_library(hub: HubDep) -> Library:
    return hub.library


def get_artifacts(hub: HubDep) -> ArtifactStore:
    return hub.artifacts


LibraryDep = Annotated[Library, Depends(get_library)]
ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]


def current_token(
    hub: HubDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> TokenInfo:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    token = hub.tokens.lookup(credentials.credentials)
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return token


TokenDep = Annotated[TokenInfo, Depends(current_token)]


def require(scope: str) -> Callable[[TokenInfo], TokenInfo]:
    """A dependency that admits tokens holding `scope` (admin holds every scope)."""

    def check(token: TokenDep) -> TokenInfo:
        if not token.allows(scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"token {token.name!r} lacks the {scope!r} scope")
        return token

    return check


EnrollScope = Annotated[TokenInfo, Depends(require("enroll"))]
AdminScope = Annotated[TokenInfo, Depends(require("admin"))]
DeviceScope = Annotated[TokenInfo, Depends(require("device"))]
Version = Annotated[str, PathParam(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


def may_download(kind: ArtifactKind, version: Version, hub: HubDep, token: DeviceScope) -> TokenInfo:
    """Admins read every artifact; a device token only those of a rollout that targets its device."""
    if token.allows("admin"):
        return token
    if token.device_id is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"token {token.name!r} is bound to no device: create one with `token create --scope device "
            "--device ID`",
        )
    if not hub.rollouts.targets(token.device_id, kind, version):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"device {token.device_id} is not a target of a rollout of {kind} {version}"
        )
    return token


ArtifactReader = Annotated[TokenInfo, Depends(may_download)]


def require_broker(hub: HubDep) -> Hub:
    """Rollouts need the MQTT link; without a configured broker they are refused before anything is stored."""
    if hub.mqtt is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "no MQTT broker configured: rollouts are off"
        )
    return hub


BrokerHubDep = Annotated[Hub, Depends(require_broker)]
