"""The hub's active model: which model enrollment, search and galleries use, and switching it."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import AdminScope, EnrollScope, HubDep
from hub.api.schemas import ActiveModelPublic, ReembedPublic, public
from hub.service import Hub

router = APIRouter(prefix="/api/models", tags=["models"])


def active_public(hub: Hub) -> ActiveModelPublic:
    active = hub.embedding_store.active()
    job = hub.reembedder.latest()
    return ActiveModelPublic(
        model_id=active.model_id, version=active.version, previous_model_id=active.previous_model_id,
        reembed=public(ReembedPublic, job) if job else None,
        embeddings=hub.embedding_store.models())


@router.get("/active")
def get_active(hub: HubDep, _: EnrollScope) -> ActiveModelPublic:
    """The active model and the progress of the latest switch (re-embedding of the library)."""
    return active_public(hub)


@router.post("/{version}/activate", status_code=status.HTTP_202_ACCEPTED)
async def activate(version: str, hub: HubDep, _: AdminScope) -> ActiveModelPublic:
    """Make a `model` artifact the hub's model: the library is re-embedded with it in the background and the
    switch happens at the end, in one transaction. Again after a failure: continues where it stopped."""
    model = hub.artifacts.get("model", version)
    await run_in_threadpool(hub.activate_model, model)
    return active_public(hub)
