"""The hub's side of retraining: library samples in, one background job, a released pair registered.

A released model and the gallery rebuilt with it are registered as two signed artifacts of the hub's
store, named by the new model id (the release version), so that they can be rolled out: the model first
(devices stage it and report `verifying`), then its gallery (the pair switches, canaries first). The hub
itself keeps enrolling with its configured model; galleries it builds later stay on that model.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

import cv2
import numpy as np

from facefleet.gallery import Gallery
from hub.galleries import ArtifactRecord, ArtifactStore
from hub.library import Library
from hub.settings import HubSettings
from hub.training.config import TrainingConfig
from hub.training.dataset import PersonSamples, as_people, split_people
from hub.training.evaluation import LfwBenchmark, load_lfw_benchmark
from hub.training.jobs import JobStatus, TrainingJobs
from hub.training.progress import ProgressCallback
from hub.training.retrain import CurrentModel, RetrainContext, TrainingReport, retrain
from models.artifacts import ModelIntegrityError, verified_model_path
from models.pipeline import FacePipeline
from models.registry import default_model_dir, load_registry

log = logging.getLogger(__name__)


class HubTraining:
    def __init__(self, settings: HubSettings, pipeline: FacePipeline, library: Library, artifacts: ArtifactStore,
                 signing_key: object) -> None:
        self.settings, self.pipeline, self.library, self.artifacts = settings, pipeline, library, artifacts
        self.signing_key = signing_key
        self.jobs = TrainingJobs()
        self.released: dict[str, tuple[ArtifactRecord, ArtifactRecord]] = {}
        self._lfw: LfwBenchmark | None = None

    def people(self) -> list[PersonSamples]:
        """Every enrolled person with their stored aligned crops (RGB)."""
        names = {p.id: p.name for p in self.library.people()}
        crops: dict[str, list[np.ndarray]] = {}
        for sample in self.library.samples():
            image = cv2.imread(str(self.library.sample_path(sample.id)))
            if image is None:
                log.warning("sample %s: crop file unreadable, left out of training", sample.id)
                continue
            if image.shape[:2] != (112, 112):
                image = cv2.resize(image, (112, 112), interpolation=cv2.INTER_AREA)
            crops.setdefault(sample.person_id, []).append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        return [PersonSamples(pid, np.stack(c), names.get(pid, pid)) for pid, c in sorted(crops.items())]

    def current_model(self) -> CurrentModel:
        config = self.settings.pipeline
        model_dir = config.model_dir or default_model_dir()
        spec = load_registry().model(config.embedder_model)
        assert spec.preprocess is not None and spec.embedding_dim is not None
        try:
            int8: Path | None = verified_model_path(model_dir, config.embedder_model, "int8")
        except ModelIntegrityError:
            int8 = None
        return CurrentModel(self.pipeline.model_id, verified_model_path(model_dir, config.embedder_model), int8,
                            spec.preprocess, spec.embedding_dim)

    def start(self, config: TrainingConfig) -> str:
        """Check the library now (NotEnoughPeopleError before queueing), then train in the background."""
        people = as_people(self.people())
        split_people(people, config.held_out_fraction, config.min_people, config.min_samples_per_person,
                     config.seed)
        context = RetrainContext(self.current_model(), self.settings.data_dir / "training",
                                 self.signing_key, "hub", self._lfw_benchmark())  # type: ignore[arg-type]

        def run(on_progress: ProgressCallback, cancel: threading.Event) -> TrainingReport:
            report = retrain(people, config, context, on_progress, cancel)
            if report.released:
                self._register(report)
            return report

        return self.jobs.submit(run)

    def status(self, job_id: str) -> JobStatus:
        return self.jobs.status(job_id)

    def _lfw_benchmark(self) -> LfwBenchmark | None:
        """LFW pairs for the gate, when the hub is configured with the data set (loaded once)."""
        lfw_dir = self.settings.training_lfw_dir
        if lfw_dir is None:
            return None
        if self._lfw is None:
            folds = range(self.settings.training_lfw_folds)
            self._lfw = load_lfw_benchmark(self.pipeline, lfw_dir, list(folds))
        return self._lfw

    def _register(self, report: TrainingReport) -> None:
        """Sign and store the released model and its gallery (renumbered to a hub gallery version)."""
        dim = self.pipeline.embedder.dim
        model = self.artifacts.add_model(Path(report.files["fp32"]), report.version, dim,
                                         base_model=self.pipeline.model_id)
        released = Gallery.load(Path(report.files["gallery"]))
        version = self.artifacts.next_version("gallery")
        gallery_file = self.settings.data_dir / "training" / f"gallery-{version}.sqlite"
        dataclasses.replace(released, version=version).write(gallery_file)
        gallery = self.artifacts.add_gallery_file(gallery_file, version, report.version, dim,
                                                  len(released.person_ids), len(released.templates))
        gallery_file.unlink(missing_ok=True)
        self.released[report.version] = (model, gallery)
        log.info("released model %s with gallery %s", model.version, gallery.version)
