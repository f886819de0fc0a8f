"""Enrollment at a device: ask a device's camera for the centre face, take its upload, confirm or reject it.

An operator (`enroll` scope) asks; the device uploads with the one-use `collect` token that came with its
request (nothing else opens the upload, and that token opens nothing else); the crops wait, listed with
thumbnails, until the operator confirms them (through the normal enrollment path) or rejects them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from facefleet.wire import MAX_COLLECT_SECONDS, MAX_CROP_BYTES, CameraName
from hub.api.deps import CollectionsDep, EnrollmentDep, EnrollScope, FleetDep, SettingsDep, TokenDep
from hub.api.samples import clean_label, enroll_crops
from hub.api.schemas import EnrollPublic
from hub.errors import NotFoundError
from hub.fleet.collections import (
    Collection,
    CollectionAsk,
    Collections,
    CollectionState,
    TokenMismatch,
    UploadRefused,
)
from hub.tokens import COLLECT_SCOPE, TokenInfo

router = APIRouter(prefix="/api", tags=["collections"])
CollectionId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$")]
DeviceId = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
_FORM_OVERHEAD_BYTES = 1024  # multipart headers and boundaries around each crop


class CollectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    camera: CameraName
    label: str = Field(min_length=1, max_length=100, description="the person's name (created on confirm if new)")
    seconds: float = Field(5.0, gt=0, le=MAX_COLLECT_SECONDS, description="how long the device collects")
    max_crops: int | None = Field(None, ge=1, le=50, description="default `collect.default_crops`")


class CollectionPublic(Collection):
    crop_urls: list[str]


def collection_public(request: Request, collections: Collections, collection: Collection) -> CollectionPublic:
    urls = [
        str(request.url_for("collection_crop", collection_id=collection.id, n=n).path)
        for n in range(len(collections.crop_paths(collection)))
    ]
    return CollectionPublic(**collection.model_dump(), crop_urls=urls)


def operator(token: EnrollScope) -> TokenInfo:
    """A person with the `enroll` scope; a token bound to a device never asks a device for faces."""
    if token.device_id is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a device token cannot ask for a collection")
    return token


OperatorScope = Annotated[TokenInfo, Depends(operator)]


def collect_token(token: TokenDep) -> TokenInfo:
    if not token.allows(COLLECT_SCOPE):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"token {token.name!r} is not a collection's upload token")
    return token


@router.post("/devices/{device_id}/collect", status_code=status.HTTP_201_CREATED)
async def ask_device(
    device_id: DeviceId,
    body: CollectCreate,
    request: Request,
    fleet: FleetDep,
    settings: SettingsDep,
    token: OperatorScope,
) -> CollectionPublic:
    """Ask a device's camera for the face nearest its centre for `seconds`; its crops come back pending.
    404: unknown device or camera; 409: device offline; 422: more than `collect.max_seconds`/`max_crops`;
    503: no MQTT broker."""
    label, cfg = clean_label(body.label), settings.collect
    crops = body.max_crops or cfg.default_crops
    if body.seconds > cfg.max_seconds or crops > cfg.max_crops:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"at most {cfg.max_seconds} s and {cfg.max_crops} crops (collect settings)",
        )
    if fleet.link.mqtt is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no MQTT broker configured: devices cannot be asked")
    ask = CollectionAsk(device_id, body.camera, label, body.seconds, crops)
    collection = await run_in_threadpool(fleet.ask_collection, ask, token.name)
    return collection_public(request, fleet.collections, collection)


@router.get("/collections")
def list_collections(
    request: Request,
    collections: CollectionsDep,
    _: EnrollScope,
    state: Annotated[CollectionState | None, Query()] = None,
) -> list[CollectionPublic]:
    """Collections, newest first; `state=pending` lists those waiting for a decision."""
    return [collection_public(request, collections, c) for c in collections.listed(state)]


@router.get("/collections/{collection_id}/crops/{n}", response_class=FileResponse)
def collection_crop(
    collection_id: CollectionId, n: Annotated[int, PathParam(ge=0, le=49)], collections: CollectionsDep, _: EnrollScope
) -> FileResponse:
    """One crop of a pending collection (JPEG), for review."""
    paths = collections.crop_paths(collection_id)
    if n >= len(paths):
        raise NotFoundError(f"collection {collection_id} has no crop {n}")
    return FileResponse(paths[n], media_type="image/jpeg")


@router.post("/collections/{collection_id}/crops", status_code=status.HTTP_201_CREATED)
async def upload_crops(
    collection_id: CollectionId,
    request: Request,
    collections: CollectionsDep,
    token: Annotated[TokenInfo, Depends(collect_token)],
) -> Collection:
    """The device's upload: a multipart form of JPEG crops (`files`), at most the request's count, each at
    most 64 KiB and checked as an image before anything decodes it. Once stored, the token is spent: a
    second upload with it gets 401; one cut off stores nothing and may be retried."""
    try:
        limit = await run_in_threadpool(collections.upload_limit, collection_id)
        await run_in_threadpool(collections.check_token, collection_id, token)
    except (TokenMismatch, NotFoundError) as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise HTTPException(status.HTTP_411_LENGTH_REQUIRED, "send the crops with a Content-Length")
    if int(declared) > limit * (MAX_CROP_BYTES + _FORM_OVERHEAD_BYTES):
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"at most {limit} crops of {MAX_CROP_BYTES} bytes")
    async with request.form(max_files=limit, max_fields=0) as form:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        crops = [await f.read(MAX_CROP_BYTES + 1) for f in files]
    try:
        return await run_in_threadpool(collections.store_upload, collection_id, token, crops)
    except TokenMismatch as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    except UploadRefused as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.post("/collections/{collection_id}/confirm", status_code=status.HTTP_201_CREATED)
async def confirm_collection(
    collection_id: CollectionId,
    request: Request,
    collections: CollectionsDep,
    enrollment: EnrollmentDep,
    _: OperatorScope,
) -> EnrollPublic:
    """Enroll the crops as samples of the collection's label through the normal enrollment path (face check,
    blur, duplicates, per-person cap). 409 unless pending; 422 (still pending) when no crop was usable."""
    collection = await run_in_threadpool(collections.get, collection_id)
    crops = await run_in_threadpool(collections.claim, collection_id)
    try:
        answer = await enroll_crops(request, enrollment, collection.label, crops)
    except BaseException as exc:
        await run_in_threadpool(collections.release, collection_id, f"confirm failed: {exc}")
        raise
    await run_in_threadpool(collections.confirmed, collection_id, answer.faces_extracted)
    return answer


@router.delete("/collections/{collection_id}")
def reject_collection(
    collection_id: CollectionId, request: Request, collections: CollectionsDep, _: OperatorScope
) -> CollectionPublic:
    """Reject: the crops are deleted (or a request still open is called off); nothing enters the library."""
    return collection_public(request, collections, collections.reject(collection_id))
