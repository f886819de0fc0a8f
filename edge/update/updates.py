"""Applying hub updates: announcement -> download -> verify -> stage -> health check -> switch -> report.

Galleries and models share one path. A gallery is only ever paired with the model that made its
templates: a gallery for the running model is swapped in alone; a model waits (staged) until a gallery
for it arrives, then both switch together. Any failure before the switch leaves the running pair as it
was and reports `failed`; a failure right after it switches back and reports `rolled_back`. Versions
older than the newest one applied are refused (a replayed old artifact is a rollback attack).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import ValidationError

from edge.recognize.model_gallery import (
    ModelGallery,
    ModelGalleryHolder,
    check_embedder,
    health_check,
    pipeline_for_model,
)
from edge.update.download import ArtifactFetcher, ForeignUrl
from edge.update.slots import RollbackFloor, SlotStore
from facefleet.gallery import Gallery
from facefleet.wire import SignedManifest, UpdateAnnouncement, UpdateState
from models.pipeline import FacePipeline, PipelineConfig

log = logging.getLogger(__name__)

Reporter = Callable[[UpdateState], None]
RefusalCounter = Callable[[str], None]
StateName = Literal["downloading", "verifying", "applied", "failed", "rolled_back"]


class UpdateRefused(RuntimeError):
    """An update that is valid as a file but must not run here (older, mismatched, unpaired)."""


class Updater:
    """Handles announcements one at a time in its own thread (downloads must not block MQTT or frames)."""

    def __init__(
        self,
        device_id: str,
        state_dir: Path,
        fetcher: ArtifactFetcher,
        holder: ModelGalleryHolder,
        pipeline_config: PipelineConfig,
        probe_rgb: np.ndarray,
        report: Reporter,
        count_refusal: RefusalCounter | None = None,
    ) -> None:
        self.device_id = device_id
        self.fetcher = fetcher
        self.holder = holder
        self.pipeline_config = pipeline_config
        self.probe_rgb = probe_rgb
        self.report = report
        self.count_refusal = count_refusal or (lambda reason: None)
        self.galleries = SlotStore(state_dir / "galleries")
        self.models = SlotStore(state_dir / "models")
        self.trust = RollbackFloor(
            state_dir / "trust.json", {"gallery": self.galleries, "model": self.models}, fetcher.public_key
        )
        self._staged_pipeline: tuple[str, FacePipeline] | None = None  # built when its model was staged
        self._waiting_model: UpdateAnnouncement | None = None  # a model rollout answered "verifying" so far
        self._answered: tuple[str, str] = ("", "")
        self._queue: queue.SimpleQueue[UpdateAnnouncement | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="updates", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def on_message(self, topic: str, payload: bytes) -> None:
        """MQTT handler: parse and queue (runs in paho's thread, so no work here)."""
        try:
            self._queue.put(UpdateAnnouncement.model_validate_json(payload))
        except ValidationError as exc:
            log.error("update: ignoring a malformed announcement on %s: %s", topic, exc)

    def _run(self) -> None:
        while (ann := self._queue.get()) is not None:
            self.handle(ann)

    def running_version(self, kind: str) -> str:
        rec = self.holder.current
        return rec.gallery.version if kind == "gallery" else rec.model_version

    def handle(self, ann: UpdateAnnouncement) -> str:
        """Apply one announcement; returns the final state reported."""
        if ann.version == self.running_version(ann.kind):
            # Retained announcements come again on every reconnect: answer each rollout once.
            if self._answered != (ann.rollout_id, ann.version):
                log.info("update: %s %s already running", ann.kind, ann.version)
                self._report(ann, "applied", "already running")
            self._answered = (ann.rollout_id, ann.version)
            return "applied"
        self._answered = (ann.rollout_id, ann.version)
        try:
            if self.trust.is_older(ann.kind, ann.version):
                raise UpdateRefused(f"{ann.version} is older than the trusted {self.trust.last(ann.kind)}")
            self.fetcher.check_urls(ann)
            self._report(ann, "downloading")
            signed = self.fetcher.manifest(ann)
            self._check_pairing(signed)
            artifact = self.fetcher.artifact(ann.artifact_url, signed.manifest)
            self._report(ann, "verifying", "signature, size and sha256 verified")
            return self._install(ann, signed, artifact)
        except Exception as exc:  # every failure keeps the old version and is reported, never raised
            if isinstance(exc, ForeignUrl):
                self.count_refusal("foreign_url")
            log.error("update: %s %s failed: %s", ann.kind, ann.version, exc)
            self._report(ann, "failed", str(exc))
            return "failed"

    def _install(self, ann: UpdateAnnouncement, signed: SignedManifest, artifact: Path) -> str:
        manifest = signed.manifest
        if manifest.kind == "model":
            self._stage_model(signed, artifact)
            partner = self._gallery_for(manifest.model_id)
            if partner is None:
                self._waiting_model = ann
                self._report(ann, "verifying", f"staged; waiting for a gallery made with {manifest.model_id}")
                return "verifying"
            return self._switch(ann, model_version=manifest.version, gallery_version=partner)
        path = self.galleries.stage(signed, artifact)
        gallery = Gallery.load(path)
        if (gallery.model_id, gallery.dim, gallery.version) != (
            manifest.model_id,
            manifest.embedding_dim,
            manifest.version,
        ):
            self.galleries.discard(manifest.version)
            raise UpdateRefused("gallery file disagrees with its manifest (model, dim or version)")
        model_version = self._model_for(manifest.model_id)
        if model_version is None:  # the model went away while this downloaded
            self.galleries.discard(manifest.version)
            raise UpdateRefused(f"no model {manifest.model_id} for gallery {manifest.version}")
        return self._switch(ann, model_version=model_version, gallery_version=manifest.version)

    def _check_pairing(self, signed: SignedManifest) -> None:
        """Before downloading: a gallery must be for the running model or a staged one."""
        manifest = signed.manifest
        if manifest.kind == "gallery" and self._model_for(manifest.model_id) is None:
            raise UpdateRefused(
                f"gallery is for model {manifest.model_id}, the device runs "
                f"{self.holder.current.model_id} (mismatched pair refused)"
            )

    def _stage_model(self, signed: SignedManifest, artifact: Path) -> None:
        """Stage a model and prove it runs (a finite unit probe embedding) before it waits for a gallery."""
        version = signed.manifest.version
        path = self.models.stage(signed, artifact)
        try:
            pipeline = pipeline_for_model(self.pipeline_config, signed, path)
            check_embedder(pipeline, self.probe_rgb)
        except Exception:
            self.models.discard(version)
            raise
        self._staged_pipeline = (version, pipeline)

    def _model_for(self, model_id: str) -> str | None:
        """The model a gallery of `model_id` pairs with: the staged model waiting for its gallery (it is the
        newer intent, also when it shares the running model's id, e.g. a rebuilt file of the same model), ''
        for the running model, another staged model's version, or None when no model makes these templates."""
        waiting = self._waiting_model
        if (
            waiting is not None
            and waiting.version in self.models.versions()
            and self.models.manifest(waiting.version).manifest.model_id == model_id
        ):
            return waiting.version
        if model_id == self.holder.current.model_id:
            return ""
        for entry in self.models.versions():
            if self.models.manifest(entry).manifest.model_id == model_id:
                return entry
        return None

    def _gallery_for(self, model_id: str) -> str | None:
        for entry in self.galleries.versions():
            if self.galleries.manifest(entry).manifest.model_id == model_id:
                return entry
        return None

    def _switch(self, ann: UpdateAnnouncement, model_version: str, gallery_version: str) -> str:
        """Build the new pair, check it, switch slots and the in-memory pair; revert if it misbehaves."""
        old = self.holder.current
        candidate = self._build(old, model_version, gallery_version)
        health_check(candidate, self.probe_rgb)
        old_gallery_slot = self.galleries.activate(gallery_version)
        old_model_slot = self.models.activate(model_version) if model_version else None
        self.holder.swap(candidate)
        try:
            health_check(self.holder.current, self.probe_rgb)
        except Exception as exc:
            self.holder.swap(old)
            self.galleries.restore(old_gallery_slot)
            if model_version:
                self.models.restore(old_model_slot)
            self._report_pair(ann, model_version, "rolled_back", f"health check after the switch failed: {exc}")
            return "rolled_back"
        self.trust.record("gallery", gallery_version)
        if model_version:
            self.trust.record("model", model_version)
        if purged := self.galleries.purge(self.galleries.manifest(gallery_version).manifest.revokes):
            log.info("update: revoked galleries %s deleted (a person in them was deleted on the hub)", purged)
        self.galleries.prune()
        if model_version:
            self.models.prune()
        log.info("update: now running model %s, gallery %s", candidate.model_id, candidate.gallery.version)
        running = f"model {candidate.model_id}, gallery {candidate.gallery.version}"
        self._report_pair(ann, model_version, "applied", running)
        return "applied"

    def _report_pair(self, ann: UpdateAnnouncement, model_version: str, state: StateName, detail: str) -> None:
        """Report the switch for this announcement and, when it activated a model that was waiting for its
        gallery, for that model's rollout too: the hub sees both rollouts finish."""
        self._report(ann, state, detail)
        waiting = self._waiting_model
        if waiting is not None and model_version and waiting.version == model_version:
            self._waiting_model = None
            if waiting is not ann:
                self._report(waiting, state, detail)

    def _build(self, old: ModelGallery, model_version: str, gallery_version: str) -> ModelGallery:
        gallery = Gallery.load(self.galleries.artifact(gallery_version))
        if not model_version:
            return ModelGallery(old.pipeline, gallery, old.model_version)
        staged_version, pipeline = self._staged_pipeline or ("", None)
        if staged_version != model_version or pipeline is None:
            signed = self.models.manifest(model_version)
            pipeline = pipeline_for_model(self.pipeline_config, signed, self.models.artifact(model_version))
        self._staged_pipeline = None
        return ModelGallery(pipeline, gallery, model_version)

    def _report(self, ann: UpdateAnnouncement, state: StateName, detail: str = "") -> None:
        running = self.running_version(ann.kind)
        self.report(
            UpdateState(
                rollout_id=ann.rollout_id,
                device_id=self.device_id,
                kind=ann.kind,
                version=ann.version,
                state=state,
                detail=detail[:500],
                ts=datetime.now(timezone.utc),
                running_version=running,
            )
        )
