"""`create_app(settings)`: the FastAPI shell around the hub. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from facefleet.signing import SignatureError
from hub.api import (
    audit,
    collections,
    devices,
    events,
    galleries,
    models,
    people,
    rollouts,
    samples,
    search,
    stream,
    suggestions,
    tracks,
    training,
    visitors,
)
from hub.api.schemas import Rejections
from hub.artifacts.revocations import RevokedError
from hub.artifacts.store import ModelFileError
from hub.bounds import RequestBounds
from hub.errors import ConflictError, NotFoundError
from hub.fleet.rollout import RolloutError
from hub.library.active_model import UnknownModelError
from hub.library.embeddings import ModelChangedError
from hub.library.enroll import RequestTooLarge
from hub.library.enrolling import NothingEnrolled
from hub.library.names import NameRefused
from hub.library.reembed import ReembedBusyError
from hub.library.uploads import UploadTooLarge
from hub.library.video import VideoError
from hub.pg_pool import StoreUnavailable
from hub.service import Hub
from hub.settings import HubSettings
from hub.training.service import TrainingUnavailableError
from hub.visitors.records import VisitorError
from hub.web import mount_web
from models.imageio import ImageError
from models.pipeline import FacePipeline

_ERRORS: dict[type[Exception], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    ImageError: 422,
    VideoError: 422,
    RolloutError: 422,
    ModelFileError: 422,
    SignatureError: 422,
    RequestTooLarge: 413,
    RevokedError: 410,
    NameRefused: 422,
    UploadTooLarge: 413,
    UnknownModelError: 422,
    ModelChangedError: 409,
    ReembedBusyError: 409,
    TrainingUnavailableError: 503,
    VisitorError: 422,
    StoreUnavailable: 503,  # the database server is away (a restart): try again
}


def create_app(settings: HubSettings, pipeline: FacePipeline | None = None) -> FastAPI:
    hub = Hub(settings, pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        yield
        await hub.stop()

    app = FastAPI(
        title="FaceFleet hub",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # hub.web serves Swagger UI and ReDoc from local files instead of a CDN
        redoc_url=None,
        description="Enrollment, sample library, 1:1 verify, 1:N search, signed galleries, rollouts.",
    )
    app.state.hub = hub
    for router in (
        people.router,
        samples.router,
        search.router,
        galleries.router,
        models.router,
        devices.router,
        events.router,
        rollouts.router,
        training.router,
        audit.router,
        visitors.router,
        tracks.router,
        suggestions.router,
        collections.router,
        stream.router,
    ):
        app.include_router(router)
    for error, status in _ERRORS.items():
        app.add_exception_handler(error, _handler(status))
    app.add_exception_handler(NothingEnrolled, _nothing_enrolled)
    app.add_middleware(RequestBounds, token_known=lambda token: hub.tokens.lookup(token) is not None)
    mount_web(app)  # its security headers wrap every answer, RequestBounds' too

    @app.get("/metrics", tags=["meta"], response_class=Response)
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(hub.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "model_id": hub.models.pipeline.model_id}

    return app


async def _nothing_enrolled(request: Request, exc: Exception) -> JSONResponse:
    """422 with the rejection counts, so that a client can say why no face was stored."""
    assert isinstance(exc, NothingEnrolled)
    rejected = Rejections(**exc.rejected).model_dump()
    detail = {"message": str(exc), "rejected": rejected, "faces_found": exc.faces_found}
    return JSONResponse({"detail": detail}, status_code=422)


def _handler(status: int) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return JSONResponse({"detail": detail}, status_code=status)

    return handle
