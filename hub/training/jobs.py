"""Training jobs in the background: one at a time, with status, progress snapshots and cancellation.

Imports no torch (the hub's training extra is optional): `retrain` is imported when a job is submitted.
The hub keeps serving while a job runs (it is a thread; torch releases the GIL in its kernels, and
`TrainingConfig.cpu_threads` leaves cores for enrollment and matching). Status is read under a lock as
immutable snapshots, so a status page never sees a half-updated job.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Literal

from hub.training.progress import ProgressCallback, TrainingCancelled, TrainingProgress, TrainingReport

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "cancelled", "failed", "done"]
FINISHED: frozenset[str] = frozenset({"cancelled", "failed", "done"})
JobFunction = Callable[[ProgressCallback, threading.Event], TrainingReport]


class JobBusyError(RuntimeError):
    """A training job is already queued or running; only one runs at a time."""


class UnknownJobError(KeyError):
    pass


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: JobState
    created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    progress: TrainingProgress | None = None
    report: TrainingReport | None = None
    error: str = ""


class TrainingJobs:
    """Runs at most one training job at a time in a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._ids = itertools.count(1)

    def submit(self, run: JobFunction) -> str:
        """Start `run(on_progress, cancel_event)` in the background; JobBusyError if a job is active."""
        with self._lock:
            if any(s.state not in FINISHED for s in self._jobs.values()):
                raise JobBusyError("a training job is already running; cancel it or wait for it to finish")
            job_id = f"train-{next(self._ids)}"
            self._jobs[job_id] = JobStatus(job_id, "queued", datetime.now(timezone.utc))
            self._cancel[job_id] = cancel = threading.Event()
            thread = threading.Thread(target=self._run, args=(job_id, run, cancel), name=job_id, daemon=True)
            self._threads[job_id] = thread
        thread.start()
        return job_id

    def _update(self, job_id: str, **changes: object) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)  # type: ignore[arg-type]

    def _run(self, job_id: str, run: JobFunction, cancel: threading.Event) -> None:
        if cancel.is_set():
            self._update(job_id, state="cancelled", finished=datetime.now(timezone.utc))
            return
        self._update(job_id, state="running", started=datetime.now(timezone.utc))
        try:
            report = run(lambda progress: self._update(job_id, progress=progress), cancel)
        except TrainingCancelled as exc:
            log.info("training job %s cancelled: %s", job_id, exc)
            self._update(job_id, state="cancelled", finished=datetime.now(timezone.utc), error=str(exc))
        except Exception as exc:  # the job's failure is its status, not the hub's crash
            log.exception("training job %s failed", job_id)
            self._update(
                job_id, state="failed", finished=datetime.now(timezone.utc), error=f"{type(exc).__name__}: {exc}"
            )
        else:
            self._update(job_id, state="done", finished=datetime.now(timezone.utc), report=report)

    def status(self, job_id: str) -> JobStatus:
        with self._lock:
            if job_id not in self._jobs:
                raise UnknownJobError(job_id)
            return self._jobs[job_id]

    def jobs(self) -> list[JobStatus]:
        with self._lock:
            return list(self._jobs.values())

    def cancel(self, job_id: str) -> JobStatus:
        """Ask a job to stop (at its next step); a finished job is left as it is."""
        self.status(job_id)
        self._cancel[job_id].set()
        return self.status(job_id)

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobStatus:
        self.status(job_id)
        self._threads[job_id].join(timeout_s)
        return self.status(job_id)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel whatever runs and wait for it (the hub's stop sequence)."""
        for job_id, event in list(self._cancel.items()):
            event.set()
            self._threads[job_id].join(timeout_s)
