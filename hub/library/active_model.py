"""The hub's models: the active pipeline (enrollment, search, verify, the default gallery) and pipelines for
the other models a gallery may be built for (the ones devices still run).

A model is the configured registry embedder, another registry embedder, or a `model` artifact in the store
(a released retrained model, or a file registered by hand): its manifest names the registry model whose
preprocessing it keeps (`base_model`). Pipelines are built once and kept; the active one changes only when
a re-embedding finishes (`hub.library.reembed`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from hub.artifacts.store import ArtifactRecord, ArtifactStore
from hub.library.embeddings import EmbeddingStore
from hub.training.context import CurrentModel
from models.artifacts import ModelIntegrityError, verified_model_path
from models.pipeline import FacePipeline, PipelineConfig
from models.registry import default_model_dir, load_registry

log = logging.getLogger(__name__)


class UnknownModelError(LookupError):
    """A model id the hub has no file for: neither a registry embedder nor a `model` artifact."""


class HubModels:
    def __init__(
        self,
        config: PipelineConfig,
        configured: FacePipeline,
        artifacts: ArtifactStore,
        store: EmbeddingStore,
        training_dir: Path,
    ) -> None:
        self.config = config
        self.artifacts = artifacts
        self.store = store
        self.training_dir = training_dir
        self._lock = threading.Lock()
        self._pipelines: dict[str, FacePipeline] = {configured.model_id: configured}
        self._versions: dict[str, str] = {configured.model_id: ""}
        self._query_pipelines: dict[str, FacePipeline] = {}
        active = store.ensure_active(configured.model_id)
        self._active = self.pipeline_for(active.model_id, active.version)

    @property
    def pipeline(self) -> FacePipeline:
        """The active pipeline: what new samples are embedded with and what search compares against."""
        return self._active

    def query_pipeline(self) -> FacePipeline:
        """The active model's pipeline for 1:N search and verify, which run beside enrollment (under a lock of
        their own). onnxruntime sessions may run from several threads at once, so they are shared (no second
        copy of the weights); other backends (a TensorRT execution context is single-threaded) get an
        instance of their own, built once per model. It follows the active model like `pipeline`."""
        active = self._active
        if _shares_sessions(self.config):
            return active
        with self._lock:
            if active.model_id not in self._query_pipelines:
                self._query_pipelines[active.model_id] = self._build(
                    active.model_id, self._versions.get(active.model_id, "")
                )
            return self._query_pipelines[active.model_id]

    def activate(self, pipeline: FacePipeline) -> None:
        """Swap the active pipeline (called once the database says this model is active)."""
        self._active = pipeline
        log.info("the hub's active model is now %s", pipeline.model_id)

    def pipeline_for(self, model_id: str, version: str = "") -> FacePipeline:
        """The pipeline of `model_id` (a `model` artifact `version` when given). UnknownModelError if none."""
        with self._lock:
            if model_id not in self._pipelines:
                self._pipelines[model_id] = self._build(model_id, version)
                self._versions[model_id] = version
            return self._pipelines[model_id]

    def _build(self, model_id: str, version: str) -> FacePipeline:
        if not version and _is_registry_embedder(model_id):
            return FacePipeline.from_config(self.config.model_copy(update={"embedder_model": model_id}))
        record = self.artifacts.get("model", version) if version else self._latest_model_artifact(model_id)
        signed = self.artifacts.manifest("model", record.version).manifest
        base = signed.base_model or self.config.embedder_model
        pipeline = FacePipeline.from_config(
            self.config.model_copy(update={"embedder_model": base}),
            model_path=self.artifacts.file_path("model", record.version),
        )
        if pipeline.embedder.dim != signed.embedding_dim:
            raise UnknownModelError(
                f"model {record.version} gives {pipeline.embedder.dim}-d embeddings, its "
                f"manifest says {signed.embedding_dim}"
            )
        pipeline.model_id = signed.model_id
        return pipeline

    def _latest_model_artifact(self, model_id: str) -> ArtifactRecord:
        found = [r for r in self.artifacts.signed("model") if r.model_id == model_id]
        if not found:
            raise UnknownModelError(
                f"the hub has no file for model {model_id!r} (neither a registry embedder "
                "nor a registered model artifact)"
            )
        return found[-1]

    def current_model(self) -> CurrentModel:
        """The active model as retraining's starting point: its FP32 file, an INT8 copy where one exists."""
        active = self.store.active()
        if not active.version:
            return self._registry_current(active.model_id)
        manifest = self.artifacts.manifest("model", active.version).manifest
        base = self._registry_current(manifest.base_model or self.config.embedder_model)
        int8 = self.training_dir / active.model_id / f"{active.model_id}.int8.onnx"
        return CurrentModel(
            active.model_id,
            self.artifacts.file_path("model", active.version),
            int8 if int8.exists() else None,
            base.preprocess,
            base.embedding_dim,
            base.model_id,
        )

    def _registry_current(self, model_id: str) -> CurrentModel:
        model_dir = self.config.model_dir or default_model_dir()
        spec = load_registry().model(model_id)
        assert spec.preprocess is not None and spec.embedding_dim is not None
        try:
            int8: Path | None = verified_model_path(model_dir, model_id, "int8")
        except ModelIntegrityError:
            int8 = None
        return CurrentModel(
            model_id, verified_model_path(model_dir, model_id), int8, spec.preprocess, spec.embedding_dim
        )


def _is_registry_embedder(model_id: str) -> bool:
    try:
        return load_registry().model(model_id).role == "embedder"
    except (KeyError, ValueError):
        return False


def _shares_sessions(config: PipelineConfig) -> bool:
    """Whether every net of the pipeline runs on onnxruntime (sessions safe to call from several threads)."""
    return config.backend.type == "onnxruntime" and config.embedder.type == "onnxruntime"
