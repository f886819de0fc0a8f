"""The hub's side of retraining: library samples in, one background job, a released pair registered.

Retraining is an optional part of the hub (the `training` extra: torch). This module and everything it
imports at import time are torch-free; `hub.training.retrain` is imported when a job starts, and a hub
without the extra answers a start with `TrainingUnavailableError` (503) and says so on its page.

A released model and the gallery rebuilt with it are registered (signed, once, by the artifact store) as two
artifacts named by the new model id (the release version), so that they can be rolled out: the model first
(devices stage it and report `verifying`), then its gallery (the pair switches, canaries first). Releasing
also makes the model the hub's own (`on_release`): the library is re-embedded with it in the background.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import threading
from collections.abc import Callable, Sequence

import numpy as np

from facefleet.gallery import Gallery
from hub.artifacts.store import ArtifactRecord, ArtifactStore
from hub.library.active_model import HubModels
from hub.library.library import Library
from hub.settings import HubSettings
from hub.training.config import TrainingConfig
from hub.training.context import RetrainContext
from hub.training.dataset import PersonSamples, as_people, split_people
from hub.training.evaluation import LfwBenchmark, load_lfw_benchmark
from hub.training.jobs import JobStatus, TrainingJobs
from hub.training.progress import ProgressCallback, TrainingReport
from models.cohort import load_cohort_crops

log = logging.getLogger(__name__)
TRAINING_EXTRA = "retraining needs the hub's `training` extra (torch): pip install 'facefleet[hub,training]'"


class TrainingUnavailableError(RuntimeError):
    """The `training` extra (torch) is not installed."""


def training_unavailable() -> str:
    """Why retraining cannot run here ('' when it can). Looks for torch without importing it."""
    try:
        found = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        found = False
    return "" if found else TRAINING_EXTRA


def submit_retrain(
    jobs: TrainingJobs,
    people: Sequence[PersonSamples | tuple[str, np.ndarray]],
    config: TrainingConfig,
    make_context: Callable[[], RetrainContext],
    on_released: Callable[[TrainingReport, RetrainContext], object],
) -> str:
    """Check the people now (a clear error before queueing), then `retrain` in the background; a report that
    passed the gate is handed to `on_released` (the hub registers the pair) before the job is done.

    make_context: called once the people passed (loading the LFW benchmark and the cohort takes a while).
    """
    checked = as_people(people)
    split_people(checked, config.held_out_fraction, config.min_people, config.min_samples_per_person, config.seed)
    context = make_context()

    def run(on_progress: ProgressCallback, cancel: threading.Event) -> TrainingReport:
        from hub.training.retrain import retrain  # torch: imported when a job starts

        report = retrain(checked, config, context, on_progress, cancel)
        if report.released:
            on_released(report, context)
        return report

    return jobs.submit(run)


class HubTraining:
    def __init__(
        self,
        settings: HubSettings,
        models: HubModels,
        library: Library,
        artifacts: ArtifactStore,
        on_release: Callable[[ArtifactRecord], object],
    ) -> None:
        """on_release: called with the registered model artifact of a released job."""
        self.settings, self.models, self.library, self.artifacts = settings, models, library, artifacts
        self.on_release = on_release
        self.jobs = TrainingJobs()
        self.released: dict[str, tuple[ArtifactRecord, ArtifactRecord]] = {}
        self._lfw: LfwBenchmark | None = None

    def people(self) -> list[PersonSamples]:
        """Every enrolled person with their stored aligned crops (RGB)."""
        names = {p.id: p.name for p in self.library.people()}
        crops: dict[str, list[np.ndarray]] = {}
        for sample in self.library.samples():
            crop = self.library.crop_rgb(sample.id)
            if crop is None:
                log.warning("sample %s: crop file unreadable, left out of training", sample.id)
                continue
            crops.setdefault(sample.person_id, []).append(crop)
        return [PersonSamples(pid, np.stack(c), names.get(pid, pid)) for pid, c in sorted(crops.items())]

    def start(self, config: TrainingConfig) -> str:
        """Check the extra and the library now (errors before queueing), then train in the background."""
        if reason := training_unavailable():
            raise TrainingUnavailableError(reason)
        return submit_retrain(self.jobs, self.people(), config, self._context, self._register)

    def _context(self) -> RetrainContext:
        cohort = self.settings.cohort_path
        return RetrainContext(
            self.models.current_model(),
            self.settings.data_dir / "training",
            self._lfw_benchmark(),
            load_cohort_crops(cohort) if cohort.exists() else None,
        )

    def status(self, job_id: str) -> JobStatus:
        return self.jobs.status(job_id)

    def _lfw_benchmark(self) -> LfwBenchmark | None:
        """LFW pairs for the gate, when the hub is configured with the data set (loaded once)."""
        lfw_dir = self.settings.training_lfw_dir
        if lfw_dir is None:
            return None
        if self._lfw is None:
            folds = range(self.settings.training_lfw_folds)
            self._lfw = load_lfw_benchmark(self.models.pipeline, lfw_dir, list(folds))
        return self._lfw

    def _register(self, report: TrainingReport, context: RetrainContext) -> None:
        """Register the released model and its gallery (renumbered to a hub gallery version), then hand the
        model over to become the hub's own."""
        assert report.files.gallery is not None
        dim = context.current.embedding_dim
        model = self.artifacts.add_model(
            report.files.fp32, report.version, dim, base_model=context.current.registry_model
        )
        released = Gallery.load(report.files.gallery)
        version = self.artifacts.next_version("gallery")
        gallery_file = report.files.gallery.with_name(f"gallery-{version}.sqlite")
        dataclasses.replace(released, version=version).write(gallery_file)
        gallery = self.artifacts.add_gallery_file(
            gallery_file, version, report.version, dim, len(released.person_ids), len(released.templates)
        )
        gallery_file.unlink(missing_ok=True)
        self.released[report.version] = (model, gallery)
        log.info("released model %s with gallery %s", model.version, gallery.version)
        try:
            self.on_release(model)
        except Exception:  # the release stands; the hub's model can still be switched by hand
            log.exception(
                "released model %s could not become the hub's model; activate it with POST /api/models/%s/activate",
                model.version,
                model.version,
            )
