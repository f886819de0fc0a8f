"""1:1 verify (two images -> same person?) and 1:N search (image -> top-K people)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Form, HTTPException, UploadFile, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import EnrollScope, HubDep
from hub.api.schemas import SearchHit, SearchPublic, VerifyPublic
from hub.enroll import Enroller
from hub.matching import rank_people
from models.pipeline import FacePipeline

router = APIRouter(prefix="/api", tags=["search"])


def central_embedding(searcher: Enroller, upload: UploadFile, pipeline: FacePipeline) -> np.ndarray | None:
    """(D,) embedding by `pipeline` of the face nearest the image centre, or None when there is no face."""
    analysis, index = searcher.main_face(searcher.decode(upload.filename or "file", upload.file), pipeline)
    return analysis.embeddings[index] if index >= 0 else None


@router.post("/verify")
async def verify(a: UploadFile, b: UploadFile, hub: HubDep, _: EnrollScope) -> VerifyPublic:
    """Compare the central faces of two images (both embedded by the active model)."""
    embeddings, pipeline = [], hub.models.query_pipeline()
    for name, upload in (("a", a), ("b", b)):
        embedding = await run_in_threadpool(central_embedding, hub.searcher, upload, pipeline)
        if embedding is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no face found in image {name}")
        embeddings.append(embedding)
    score = float(embeddings[0] @ embeddings[1])
    threshold = hub.settings.verify_threshold
    return VerifyPublic(same_person=score >= threshold, score=score, threshold=threshold)


@router.post("/search")
async def search(
    file: UploadFile, hub: HubDep, _: EnrollScope, top_k: Annotated[int, Form(ge=1, le=100)] = 5
) -> SearchPublic:
    """The enrolled people most like the central face, best sample cosine per person (active model)."""
    pipeline = hub.models.query_pipeline()
    embedding = await run_in_threadpool(central_embedding, hub.searcher, file, pipeline)
    if embedding is None:
        return SearchPublic(face_found=False, hits=[])
    found = await run_in_threadpool(hub.library.embeddings, None, pipeline.model_id)
    names = {p.id: p.name for p in hub.library.people()}
    hits = [
        SearchHit(person_id=pid, name=names.get(pid, ""), score=score)
        for pid, score in rank_people(embedding, found.person_ids, found.vectors, top_k)
    ]
    return SearchPublic(face_found=True, hits=hits)
