"""The hub's active model: which model enrollment, search and galleries use, and switching it."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import AdminScope, ArtifactsDep, EmbeddingStoreDep, EnrollScope, ReembedderDep
from hub.api.schemas import ActiveModelPublic, ReembedPublic, public
from hub.library.embeddings import EmbeddingStore
from hub.library.reembed import Reembedder

router = APIRouter(prefix="/api/models", tags=["models"])


def active_public(embeddings: EmbeddingStore, reembedder: Reembedder) -> ActiveModelPublic:
    active = embeddings.active()
    job = reembedder.latest()
    return ActiveModelPublic(
        model_id=active.model_id,
        version=active.version,
        previous_model_id=active.previous_model_id,
        reembed=public(ReembedPublic, job) if job else None,
        embeddings=embeddings.models(),
    )


@router.get("/active")
def get_active(embeddings: EmbeddingStoreDep, reembedder: ReembedderDep, _: EnrollScope) -> ActiveModelPublic:
    """The active model and the progress of the latest switch (re-embedding of the library)."""
    return active_public(embeddings, reembedder)


@router.post("/{version}/activate", status_code=status.HTTP_202_ACCEPTED)
async def activate(
    version: str, artifacts: ArtifactsDep, embeddings: EmbeddingStoreDep, reembedder: ReembedderDep, _: AdminScope
) -> ActiveModelPublic:
    """Make a `model` artifact the hub's model: the library is re-embedded with it in the background and the
    switch happens at the end, in one transaction. Again after a failure: continues where it stopped."""
    model = artifacts.get("model", version)
    await run_in_threadpool(reembedder.activate, model)
    return active_public(embeddings, reembedder)
