"""Switching the hub to another model: re-embed every stored crop with it in the background, then switch.

All or nothing: the new embeddings are written batch by batch beside the old ones (nothing reads them), and
the active model changes in one transaction at the end, which first checks that no sample lacks an embedding
of the new model (samples enrolled meanwhile are embedded too). Until then enrollment, search and galleries
run on the old model. A failure marks the job `failed` and leaves the old model active; a hub stopped
midway finds the job `running` at its next start and resumes it, reusing the embeddings already written.
Activating the same model again after a failure continues likewise.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import Field

from hub.artifacts.store import ArtifactRecord
from hub.db import HubDb, now_iso
from hub.errors import NotFoundError
from hub.library.active_model import HubModels
from hub.library.embeddings import EmbeddingStore
from hub.library.library import Library
from hub.records import Record
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)

ReembedState = Literal["running", "done", "failed"]
BATCH = 64


class ReembedBusyError(RuntimeError):
    """Another model's re-embedding is running; one at a time."""


class ReembedJob(Record):
    """One switch to `model_id` (`model` artifact `version`; '' for a registry model): `done` of `total`
    samples have its embedding so far."""

    id: str
    model_id: str
    version: str = Field(description="the model artifact ('' for a registry model)")
    state: ReembedState
    done: int = Field(description="samples embedded with the model so far")
    total: int
    error: str
    created: str
    updated: str


def embed_missing(
    library: Library,
    store: EmbeddingStore,
    model_id: str,
    pipeline: FacePipeline,
    stop: threading.Event | None = None,
    on_batch: Callable[[], None] | None = None,
) -> int:
    """Embed the crops of samples that have no embedding of `model_id`, BATCH at a time; returns how many.

    Raises RuntimeError naming a sample whose crop file cannot be read (it can never get an embedding).
    """
    count = 0
    while not (stop is not None and stop.is_set()) and (ids := store.missing(model_id, BATCH)):
        crops: dict[str, np.ndarray] = {}
        for sample_id in ids:
            try:
                crop = library.crop_rgb(sample_id)
                if crop is None:  # a deletion removes the rows, then the files: is the sample still there?
                    library.sample_path(sample_id)
            except NotFoundError:  # deleted meanwhile
                continue
            if crop is None:
                raise RuntimeError(
                    f"sample {sample_id}: crop file unreadable, so it cannot be re-embedded; "
                    "delete the sample, then activate the model again"
                )
            crops[sample_id] = crop
        if crops:
            store.store(model_id, list(crops), pipeline.embedder.embed(np.stack(list(crops.values()))))
        count += len(crops)
        if on_batch is not None:
            on_batch()
    return count


class Reembedder:
    """Runs at most one re-embedding at a time in a daemon thread; its progress lives in `reembeds` rows."""

    def __init__(self, hub_db: HubDb, library: Library, models: HubModels, keep: Callable[[], set[str]]) -> None:
        """keep: model ids whose embeddings must survive a switch (the ones devices run)."""
        self.hub_db, self.library, self.models, self.keep = hub_db, library, models, keep
        self.store = library.embedding_store
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def activate(self, model: ArtifactRecord) -> ReembedJob | None:
        """Make a `model` artifact the hub's model: re-embed the library in the background, then switch."""
        return self.start(model.model_id, model.version)

    def start(self, model_id: str, version: str) -> ReembedJob | None:
        """Start switching to `model_id`; None when it is active already. ReembedBusyError while another
        model's job runs; the same model's running job is answered as it is."""
        if self.store.active().model_id == model_id:
            return None
        self.models.pipeline_for(model_id, version)  # UnknownModelError now, not in the thread
        with self._lock:
            running = self._running()
            if running is not None and (running.model_id, running.version) != (model_id, version):
                raise ReembedBusyError(f"the library is being re-embedded with {running.model_id}; wait for it")
            job = running or self._create(model_id, version)
            self._spawn(job)
        return self.get(job.id)

    def resume(self) -> None:
        """At start: continue a job a stopped hub left running."""
        with self._lock:
            if (job := self._running()) is not None:
                log.warning("resuming the re-embedding of the library with %s", job.model_id)
                self._spawn(job)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _create(self, model_id: str, version: str) -> ReembedJob:
        now = now_iso()
        job = ReembedJob(
            id=uuid.uuid4().hex[:12],
            model_id=model_id,
            version=version,
            state="running",
            done=0,
            total=0,
            error="",
            created=now,
            updated=now,
        )
        with self.hub_db.transaction() as db:
            db.insert("reembeds", job.model_dump())
        self._progress(job.id, model_id)
        return job

    def _spawn(self, job: ReembedJob) -> None:
        if self._thread is not None and self._thread.is_alive():
            if self._thread.name == f"reembed-{job.id}":
                return
            self._thread.join(30.0)  # the previous job's thread, finishing
        self._thread = threading.Thread(target=self._run, args=(job,), name=f"reembed-{job.id}", daemon=True)
        self._thread.start()

    def _run(self, job: ReembedJob) -> None:
        try:
            pipeline = self.models.pipeline_for(job.model_id, job.version)
            while not self._stop.is_set():
                embed_missing(
                    self.library,
                    self.store,
                    job.model_id,
                    pipeline,
                    self._stop,
                    lambda: self._progress(job.id, job.model_id),
                )
                if not self._stop.is_set() and self._switch(job, pipeline):
                    return
        except Exception as exc:  # the job's failure is its state; the old model stays active
            log.exception("re-embedding with %s failed", job.model_id)
            self._finish(job.id, "failed", f"{type(exc).__name__}: {exc}")

    def _switch(self, job: ReembedJob, pipeline: FacePipeline) -> bool:
        """One transaction: make the model active and the job done, unless a sample still lacks it."""
        with self.hub_db.lock:
            with self.hub_db.transaction() as db:
                if not self.store.switch(db, job.model_id, job.version, self.keep()):
                    return False
                db.execute(
                    "UPDATE reembeds SET state = 'done', done = total, updated = ? WHERE id = ?", [now_iso(), job.id]
                )
            self.models.activate(pipeline)
        return True

    def _progress(self, job_id: str, model_id: str) -> None:
        with self.hub_db.transaction() as db:
            total = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
            db.execute(
                "UPDATE reembeds SET done = ?, total = ?, updated = ? WHERE id = ?",
                [self.store.count(model_id, db), total, now_iso(), job_id],
            )

    def _finish(self, job_id: str, state: ReembedState, error: str) -> None:
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE reembeds SET state = ?, error = ?, updated = ? WHERE id = ?",
                [state, error[:500], now_iso(), job_id],
            )

    def _running(self) -> ReembedJob | None:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM reembeds WHERE state = 'running' ORDER BY created DESC"))
        return ReembedJob.model_validate(rows[0]) if rows else None

    def get(self, job_id: str) -> ReembedJob:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM reembeds WHERE id = ?", [job_id]))
        if not rows:
            raise NotFoundError(f"no re-embedding {job_id}")
        return ReembedJob.model_validate(rows[0])

    def latest(self) -> ReembedJob | None:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM reembeds ORDER BY created DESC LIMIT 1"))
        return ReembedJob.model_validate(rows[0]) if rows else None
