"""Retraining jobs: start one, watch its progress and gate report, cancel it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from hub.api.deps import AdminScope, HubDep
from hub.training.config import TrainingConfig
from hub.training.dataset import NotEnoughPeopleError
from hub.training.jobs import JobBusyError, JobStatus, UnknownJobError

router = APIRouter(prefix="/api/training", tags=["training"])


class JobPublic(BaseModel):
    job_id: str
    state: str
    created: str
    started: str | None
    finished: str | None
    progress: dict[str, Any] | None
    report: dict[str, Any] | None
    error: str
    released_model: str | None = None
    released_gallery: str | None = None


def job_public(hub: HubDep, job: JobStatus) -> JobPublic:
    pair = hub.training.released.get(job.report.version) if job.report and job.report.released else None
    return JobPublic(
        job_id=job.job_id, state=job.state, created=job.created.isoformat(),
        started=job.started.isoformat() if job.started else None,
        finished=job.finished.isoformat() if job.finished else None,
        progress=asdict(job.progress) if job.progress else None,
        report=asdict(job.report) if job.report else None, error=job.error,
        released_model=pair[0].version if pair else None, released_gallery=pair[1].version if pair else None,
    )


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def start_training(hub: HubDep, _: AdminScope, body: TrainingConfig | None = None) -> JobPublic:
    """Fine-tune the embedder on the library (ArcFace loss by default); one job at a time."""
    try:
        job_id = await run_in_threadpool(hub.training.start, body or TrainingConfig())
    except NotEnoughPeopleError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    except JobBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return job_public(hub, hub.training.status(job_id))


@router.get("")
def list_jobs(hub: HubDep, _: AdminScope) -> list[JobPublic]:
    return [job_public(hub, job) for job in hub.training.jobs.jobs()]


@router.get("/{job_id}")
def get_job(job_id: str, hub: HubDep, _: AdminScope) -> JobPublic:
    try:
        return job_public(hub, hub.training.status(job_id))
    except UnknownJobError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id}") from exc


@router.post("/{job_id}/cancel")
def cancel_job(job_id: str, hub: HubDep, _: AdminScope) -> JobPublic:
    try:
        return job_public(hub, hub.training.jobs.cancel(job_id))
    except UnknownJobError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no training job {job_id}") from exc
