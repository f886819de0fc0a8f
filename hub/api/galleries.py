"""Galleries and artifacts: build a signed gallery, list versions, and serve manifest and file to devices."""

from __future__ import annotations

from fastapi import APIRouter, Response, UploadFile, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from facefleet.wire import ArtifactKind, SignedManifest
from hub.api.deps import (
    AdminScope,
    ArtifactReader,
    ArtifactsDep,
    ArtifactUrlsDep,
    GalleriesDep,
    ModelsDep,
    SettingsDep,
    Version,
)
from hub.api.schemas import ArtifactPublic, GalleryCreate, public
from hub.artifacts.store import ArtifactRecord, ArtifactUrls, check_onnx
from hub.library.uploads import copy_limited, spool_dir

router = APIRouter(prefix="/api", tags=["galleries"])
MAX_MODEL_BYTES = 2 * 1024**3  # an embedder ONNX is tens of MB; this only stops a disk-filling upload


def artifact_public(urls: ArtifactUrls, record: ArtifactRecord) -> ArtifactPublic:
    manifest_url, artifact_url = urls(record.kind, record.version)
    return public(ArtifactPublic, record, manifest_url=manifest_url, artifact_url=artifact_url)


@router.post("/galleries", status_code=status.HTTP_201_CREATED)
async def build_gallery(
    galleries: GalleriesDep, urls: ArtifactUrlsDep, _: AdminScope, body: GalleryCreate | None = None
) -> ArtifactPublic:
    """Build a new gallery version (templates per person) for the active model, or for `model_id`, and sign
    its manifest."""
    record = await run_in_threadpool(galleries.build, body.model_id if body else None)
    return artifact_public(urls, record)


@router.get("/galleries")
def list_galleries(artifacts: ArtifactsDep, urls: ArtifactUrlsDep, _: AdminScope) -> list[ArtifactPublic]:
    return [artifact_public(urls, r) for r in artifacts.signed("gallery")]


@router.post("/models", status_code=status.HTTP_201_CREATED)
async def add_model(
    file: UploadFile,
    artifacts: ArtifactsDep,
    urls: ArtifactUrlsDep,
    models: ModelsDep,
    settings: SettingsDep,
    _: AdminScope,
) -> ArtifactPublic:
    """Register an embedding model (ONNX) of the hub's model id as a signed `model` artifact."""
    with spool_dir(settings.data_dir) as tmp:
        spool = tmp / "model.onnx"
        await run_in_threadpool(copy_limited, file.file, spool, MAX_MODEL_BYTES)
        await run_in_threadpool(check_onnx, spool)
        pipeline = models.pipeline
        record = await run_in_threadpool(artifacts.add_model, spool, pipeline.model_id, pipeline.embedder.dim)
    return artifact_public(urls, record)


@router.get("/models")
def list_models(artifacts: ArtifactsDep, urls: ArtifactUrlsDep, _: AdminScope) -> list[ArtifactPublic]:
    """The signed model artifacts (what a model rollout can send), oldest first."""
    return [artifact_public(urls, r) for r in artifacts.signed("model")]


@router.get("/signing-key", response_class=Response, responses={200: {"content": {"application/x-pem-file": {}}}})
def signing_key(artifacts: ArtifactsDep) -> Response:
    """The hub's ed25519 public key (PEM) that devices verify manifests with."""
    return Response(artifacts.public_key_pem, media_type="application/x-pem-file")


@router.get("/artifacts/{kind}/{version}/manifest")
def manifest(kind: ArtifactKind, version: Version, artifacts: ArtifactsDep, _: ArtifactReader) -> SignedManifest:
    return artifacts.manifest(kind, version)


@router.get("/artifacts/{kind}/{version}/file", response_class=FileResponse)
def artifact_file(kind: ArtifactKind, version: Version, artifacts: ArtifactsDep, _: ArtifactReader) -> FileResponse:
    """The artifact bytes. Honours `Range: bytes=...` so an interrupted download can resume."""
    path = artifacts.file_path(kind, version)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
