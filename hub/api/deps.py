"""Shared dependencies: the hub's parts and token checks, as `Annotated` aliases.

Routers name the parts they use (`LibraryDep`, `RolloutsDep`, ...); only this module reaches the hub, the
composition root that holds them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, status
from fastapi import Path as PathParam
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from facefleet.wire import ArtifactKind
from hub.artifacts.galleries import Galleries
from hub.artifacts.store import ArtifactStore, ArtifactUrls
from hub.fleet.collections import Collections
from hub.fleet.devices import DeviceRegistry
from hub.fleet.events import RecentEvents
from hub.fleet.fleet import Fleet
from hub.fleet.intake import Refusals
from hub.fleet.link import BrokerLink
from hub.fleet.release_rollout import ReleaseRollouts
from hub.fleet.rollout import RolloutEngine
from hub.library.active_model import HubModels
from hub.library.deletions import Deletions
from hub.library.embeddings import EmbeddingStore
from hub.library.enroll import Enroller
from hub.library.enrolling import Enrollment
from hub.library.library import Library
from hub.library.reembed import Reembedder
from hub.library.search_index import LibraryIndex
from hub.service import Hub
from hub.settings import HubSettings
from hub.streams.service import StreamService
from hub.tokens import TokenInfo, TokenStore
from hub.training.service import HubTraining
from hub.visitors.intake import VisitorIntake
from hub.visitors.store import VisitorStore
from hub.visitors.suggestions import Suggestions

T = TypeVar("T")
_bearer = HTTPBearer(auto_error=False, description="API token: `facefleet-hub token create --scope ...`")


def _part(pick: Callable[[Hub], T]) -> Callable[[HTTPConnection], T]:
    """A dependency answering one part of the hub (the composition root stays behind this module); for
    HTTP requests and WebSockets alike."""

    def part(connection: HTTPConnection) -> T:
        hub: Hub = connection.app.state.hub
        return pick(hub)

    return part


SettingsDep = Annotated[HubSettings, Depends(_part(lambda hub: hub.settings))]
TokensDep = Annotated[TokenStore, Depends(_part(lambda hub: hub.tokens))]
LibraryDep = Annotated[Library, Depends(_part(lambda hub: hub.library))]
EnrollmentDep = Annotated[Enrollment, Depends(_part(lambda hub: hub.enrollment))]
DeletionsDep = Annotated[Deletions, Depends(_part(lambda hub: hub.deletions))]
ModelsDep = Annotated[HubModels, Depends(_part(lambda hub: hub.models))]
SearcherDep = Annotated[Enroller, Depends(_part(lambda hub: hub.searcher))]
SearchIndexDep = Annotated[LibraryIndex, Depends(_part(lambda hub: hub.search_index))]
EmbeddingStoreDep = Annotated[EmbeddingStore, Depends(_part(lambda hub: hub.embedding_store))]
ReembedderDep = Annotated[Reembedder, Depends(_part(lambda hub: hub.reembedder))]
ArtifactsDep = Annotated[ArtifactStore, Depends(_part(lambda hub: hub.artifacts))]
ArtifactUrlsDep = Annotated[ArtifactUrls, Depends(_part(lambda hub: hub.artifact_urls))]
GalleriesDep = Annotated[Galleries, Depends(_part(lambda hub: hub.galleries))]
RolloutsDep = Annotated[RolloutEngine, Depends(_part(lambda hub: hub.rollouts))]
ReleasesDep = Annotated[ReleaseRollouts, Depends(_part(lambda hub: hub.releases))]
DevicesDep = Annotated[DeviceRegistry, Depends(_part(lambda hub: hub.devices))]
FleetDep = Annotated[Fleet, Depends(_part(lambda hub: hub.fleet))]
CollectionsDep = Annotated[Collections, Depends(_part(lambda hub: hub.collections))]
EventsDep = Annotated[RecentEvents, Depends(_part(lambda hub: hub.events))]
RefusalsDep = Annotated[Refusals, Depends(_part(lambda hub: hub.refusals))]
VisitorStoreDep = Annotated[VisitorStore, Depends(_part(lambda hub: hub.visitor_store))]
VisitorsDep = Annotated[VisitorIntake, Depends(_part(lambda hub: hub.visitors))]
SuggestionsDep = Annotated[Suggestions, Depends(_part(lambda hub: hub.suggestions))]
TrainingDep = Annotated[HubTraining, Depends(_part(lambda hub: hub.training))]
StreamsDep = Annotated[StreamService, Depends(_part(lambda hub: hub.streams))]
LinkDep = Annotated[BrokerLink, Depends(_part(lambda hub: hub.link))]


def current_token(
    tokens: TokensDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> TokenInfo:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "missing bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    token = tokens.lookup(credentials.credentials)
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


def may_download(kind: ArtifactKind, version: Version, rollouts: RolloutsDep, token: DeviceScope) -> TokenInfo:
    """Admins read every artifact; a device token only those of a rollout that targets its device."""
    if token.allows("admin"):
        return token
    if token.device_id is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"token {token.name!r} is bound to no device: create one with `token create --scope device --device ID`",
        )
    if not rollouts.targets(token.device_id, kind, version):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"device {token.device_id} is not a target of a rollout of {kind} {version}"
        )
    return token


ArtifactReader = Annotated[TokenInfo, Depends(may_download)]


def require_broker(rollouts: RolloutsDep, link: LinkDep) -> RolloutEngine:
    """Rollouts need the MQTT link; without a configured broker they are refused before anything is stored."""
    if link.mqtt is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no MQTT broker configured: rollouts are off")
    return rollouts


BrokerRolloutsDep = Annotated[RolloutEngine, Depends(require_broker)]
