"""1:1 verify (two images -> same person?) and 1:N search (image -> top-K people)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Form, HTTPException, UploadFile, status
from starlette.concurrency import run_in_threadpool

from hub.api.deps import EnrollScope, LibraryDep, ModelsDep, SearcherDep, SearchIndexDep, SettingsDep
from hub.api.schemas import SearchHit, SearchPublic, VerifyPublic
from hub.errors import NotFoundError
from hub.library.enroll import Enroller
from hub.library.library import Library
from models.pipeline import FacePipeline

router = APIRouter(prefix="/api", tags=["search"])


def central_embedding(searcher: Enroller, upload: UploadFile, pipeline: FacePipeline) -> np.ndarray | None:
    """(D,) embedding by `pipeline` of the face nearest the image centre, or None when there is no face."""
    analysis, index = searcher.main_face(searcher.decode(upload.filename or "file", upload.file), pipeline)
    return analysis.embeddings[index] if index >= 0 else None


@router.post("/verify")
async def verify(
    a: UploadFile, b: UploadFile, models: ModelsDep, searcher: SearcherDep, settings: SettingsDep, _: EnrollScope
) -> VerifyPublic:
    """Compare the central faces of two images (both embedded by the active model)."""
    embeddings, pipeline = [], models.query_pipeline()
    for name, upload in (("a", a), ("b", b)):
        embedding = await run_in_threadpool(central_embedding, searcher, upload, pipeline)
        if embedding is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no face found in image {name}")
        embeddings.append(embedding)
    score = float(embeddings[0] @ embeddings[1])
    threshold = settings.verify_threshold
    return VerifyPublic(same_person=score >= threshold, score=score, threshold=threshold)


@router.post("/search")
async def search(
    file: UploadFile,
    models: ModelsDep,
    searcher: SearcherDep,
    index: SearchIndexDep,
    library: LibraryDep,
    _: EnrollScope,
    top_k: Annotated[int, Form(ge=1, le=100)] = 5,
) -> SearchPublic:
    """The enrolled people most like the central face, best sample cosine per person (active model), from
    the hub's 1:N index (exact for small libraries, approximate IVF for large ones: `search` config)."""
    pipeline = models.query_pipeline()
    embedding = await run_in_threadpool(central_embedding, searcher, file, pipeline)
    if embedding is None:
        return SearchPublic(face_found=False, hits=[])
    ranked = await run_in_threadpool(index.search_people, embedding, top_k, pipeline.model_id)
    return SearchPublic(face_found=True, hits=await run_in_threadpool(named_hits, library, ranked))


def named_hits(library: Library, ranked: list[tuple[str, float]]) -> list[SearchHit]:
    """Hits with the people's names; a person deleted since the index answered is left out."""
    hits = []
    for person_id, score in ranked:
        try:
            hits.append(SearchHit(person_id=person_id, name=library.person(person_id).name, score=score))
        except NotFoundError:
            continue
    return hits
