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

router = APIRouter(prefix="/api", tags=["search"])


def central_embedding(searcher: Enroller, upload: UploadFile) -> np.ndarray | None:
    """(D,) embedding of the face nearest the image centre, or None when there is no face."""
    analysis, index = searcher.main_face(searcher.decode(upload.filename or "file", upload.file))
    return analysis.embeddings[index] if index >= 0 else None


@router.post("/verify")
async def verify(a: UploadFile, b: UploadFile, hub: HubDep, _: EnrollScope) -> VerifyPublic:
    """Compare the central faces of two images."""
    embeddings = []
    for name, upload in (("a", a), ("b", b)):
        embedding = await run_in_threadpool(central_embedding, hub.searcher, upload)
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
    """The enrolled people most like the central face, best sample cosine per person."""
    embedding = await run_in_threadpool(central_embedding, hub.searcher, file)
    if embedding is None:
        return SearchPublic(face_found=False, hits=[])
    _sample_ids, owners, vectors = await run_in_threadpool(hub.library.embeddings)
    names = {p.id: p.name for p in hub.library.people()}
    hits = [
        SearchHit(person_id=pid, name=names.get(pid, ""), score=score)
        for pid, score in rank_people(embedding, owners, vectors, top_k)
    ]
    return SearchPublic(face_found=True, hits=hits)
