"""The job runner: one job at a time, progress, cancellation, failures as status."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from hub.training.config import TrainingConfig
from hub.training.dataset import NotEnoughPeopleError
from hub.training.jobs import JobBusyError, TrainingJobs
from hub.training.progress import ProgressCallback, TrainingCancelled, TrainingProgress
from hub.training.service import submit_retrain


def _blocking_job(release: threading.Event) -> Any:
    def run(progress: ProgressCallback, cancel: threading.Event) -> Any:
        for step in range(1, 1000):
            progress(TrainingProgress(phase="training", step=step, max_steps=1000, loss=1.0 / step))
            if cancel.wait(0.01):
                raise TrainingCancelled(f"cancelled at step {step}")
            if release.is_set():
                return "report"
        return "report"

    return run


def test_one_job_at_a_time_with_progress() -> None:
    jobs, release = TrainingJobs(), threading.Event()
    job_id = jobs.submit(_blocking_job(release))
    with pytest.raises(JobBusyError):
        jobs.submit(_blocking_job(release))
    while jobs.status(job_id).progress is None:
        threading.Event().wait(0.01)
    assert jobs.status(job_id).state == "running"
    release.set()
    done = jobs.wait(job_id, 10)
    assert done.state == "done" and done.report == "report" and done.progress is not None
    assert jobs.submit(lambda p, c: "second") != job_id  # free again once finished


def test_cancel() -> None:
    jobs = TrainingJobs()
    job_id = jobs.submit(_blocking_job(threading.Event()))
    jobs.cancel(job_id)
    status = jobs.wait(job_id, 10)
    assert status.state == "cancelled" and "cancelled at step" in status.error
    assert status.finished is not None


def test_failure_is_reported() -> None:
    def broken(progress: ProgressCallback, cancel: threading.Event) -> Any:
        raise RuntimeError("out of memory")

    jobs = TrainingJobs()
    status = jobs.wait(jobs.submit(broken), 10)
    assert status.state == "failed" and "out of memory" in status.error


def test_too_few_people_fails_before_queueing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    jobs = TrainingJobs()
    with pytest.raises(NotEnoughPeopleError, match="at least 2 people"):
        submit_retrain(
            jobs,
            [("solo", np.zeros((5, 112, 112, 3), np.uint8))],
            TrainingConfig(),
            make_context=lambda: pytest.fail("the people are checked first"),
            on_released=lambda *_: None,
        )
    assert jobs.jobs() == []
