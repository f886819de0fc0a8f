"""Building galleries: everyone enrolled, for one model, signed; and which gallery each rollout target gets.

A gallery holds templates of one model's embeddings, since embeddings of different models must never be
compared. Samples without an embedding of the model asked for (enrolled after the hub switched away from it,
or pruned) are embedded first; ignored visitors ride along as ignore entries and the impostor cohort as the
open-set reference, both embedded with the same model.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from hub.artifacts.cohort import GalleryCohort
from hub.artifacts.store import ArtifactRecord, ArtifactStore
from hub.fleet.devices import DeviceRegistry
from hub.library.active_model import HubModels
from hub.library.embeddings import EmbeddingStore
from hub.library.library import Library
from hub.library.reembed import embed_missing
from hub.visitors.ignores import ignore_entries
from hub.visitors.store import VisitorStore

GalleryPlan = list[tuple[str, list[str]]]
"""(gallery version, the target devices that get it), the requested version's group first."""
Planner = Callable[[str, list[str]], GalleryPlan]


class Galleries:
    def __init__(
        self,
        library: Library,
        embedding_store: EmbeddingStore,
        models: HubModels,
        visitor_store: VisitorStore,
        artifacts: ArtifactStore,
        cohort: GalleryCohort,
        devices: DeviceRegistry,
        builds: Counter,
    ) -> None:
        """builds: the metric counting gallery versions built (by hand or for a rollout's plan)."""
        self.library, self.embedding_store, self.models = library, embedding_store, models
        self.visitor_store, self.artifacts, self.cohort = visitor_store, artifacts, cohort
        self.devices = devices
        self.builds = builds

    def build(self, model_id: str | None = None) -> ArtifactRecord:
        """A gallery of everyone for `model_id` (default: the active model), signed and registered."""
        model_id = model_id or self.library.model_id
        pipeline = self.models.pipeline_for(model_id)
        embed_missing(self.library, self.embedding_store, model_id, pipeline)
        names = {p.id: p.name for p in self.library.people()}
        ignores = ignore_entries(self.visitor_store, model_id, pipeline.embedder.embed)
        record = self.artifacts.build_gallery(
            self.library.embeddings(model_id=model_id),
            names,
            pipeline.embedder.dim,
            ignores=ignores,
            cohort=self.cohort.embeddings(pipeline),
        )
        self.builds.inc()
        return record

    def plan(self, version: str, targets: list[str]) -> GalleryPlan:
        """Which gallery version each target gets: `version` where a device runs its model (or has not said
        what it runs), else one built now for the model the device runs. All are built before any rollout
        starts, so an UnknownModelError leaves nothing half started. The `version` group comes first."""
        record = self.artifacts.get("gallery", version)
        running = {d.id: d.model_id for d in self.devices.registered()}
        groups: dict[str, list[str]] = {}
        for device in targets:
            groups.setdefault(running.get(device) or record.model_id, []).append(device)
        ordered = sorted(groups.items(), key=lambda group: group[0] != record.model_id)
        return [
            (version if model == record.model_id else self.build(model).version, devices) for model, devices in ordered
        ]
