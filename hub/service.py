"""The hub's composition root: builds every part from the settings, starts them, stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from facefleet.signing import load_or_create_key, public_pem
from facefleet.wire import ArtifactKind, DeviceStatus, Topics, TrackEvent, UpdateState
from hub.artifacts.cohort import GalleryCohort
from hub.artifacts.store import ArtifactRecord, ArtifactStore
from hub.db import HubDb
from hub.fleet.collections import Collection, CollectionAsk, Collections
from hub.fleet.devices import DeviceRegistry
from hub.fleet.events import RecentEvents
from hub.fleet.home_assistant import HomeAssistant
from hub.fleet.intake import Refusals
from hub.fleet.mqtt import DeviceHandlers, HubMqtt
from hub.fleet.release_rollout import ReleaseRollouts
from hub.fleet.retained_queue import RetainedQueue
from hub.fleet.rollout import Rollout, RolloutEngine, check_targets
from hub.library import uploads
from hub.library.active_model import HubModels
from hub.library.deletions import Deletions
from hub.library.embeddings import EmbeddingStore
from hub.library.enroll import Enroller
from hub.library.library import Library, NotFoundError
from hub.library.reembed import Reembedder, ReembedJob, embed_missing
from hub.library.search_index import LibraryIndex
from hub.metrics import HubMetrics, PublishCollector, StoreCollector
from hub.settings import HubSettings
from hub.streams.metrics import StreamCollector
from hub.streams.service import StreamService
from hub.tokens import TokenStore
from hub.training.service import HubTraining, training_unavailable
from hub.visitors.enrolling import enroll_crops
from hub.visitors.ignores import ignore_entries
from hub.visitors.intake import IntakeThread, VisitorIntake
from hub.visitors.metrics import VisitorCollector
from hub.visitors.store import VisitorStore
from hub.visitors.suggestions import Suggestions
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)
TICK_S = 1.0


@dataclass(frozen=True)
class HomeAssistantFollower:
    """Home Assistant's person sensors, kept in step with every committed library write."""

    library: Library
    home_assistant: HomeAssistant

    def person_changed(self, person_id: str) -> None:
        self.home_assistant.person(self.library.person(person_id))

    def samples_removed(self, sample_ids: list[str]) -> None:
        """A person's sensor shows where they were last seen, not their samples: nothing to do."""

    def person_removed(self, person_id: str) -> None:
        self.home_assistant.person_removed(person_id)


@dataclass(frozen=True)
class LiveViewFollower:
    """The live view's recent events forget a deleted person (events that carried their name and face)."""

    events: RecentEvents

    def person_changed(self, person_id: str) -> None:
        """The events keep the name the agent reported: nothing to do."""

    def samples_removed(self, sample_ids: list[str]) -> None:
        """Nothing to do."""

    def person_removed(self, person_id: str) -> None:
        self.events.forget_person(person_id)


class Hub:
    def __init__(self, settings: HubSettings, pipeline: FacePipeline | None = None) -> None:
        """pipeline: the configured model's pipeline, when the caller has built it already (tests)."""
        self.settings = settings
        self.db = HubDb(settings.database_target, settings.database.connect_timeout_s)
        self.db.migrate()
        self.tokens = TokenStore(self.db)
        self.tokens.set_environment_admin(settings.admin_token.get_secret_value() if settings.admin_token else None)
        self.embedding_store = EmbeddingStore(self.db)
        self.library = Library(self.db, settings.data_dir / "samples", self.embedding_store)
        self.search_index = LibraryIndex(self.embedding_store, settings.search)
        self.signing_key = load_or_create_key(settings.key_path)
        self.public_key_pem = public_pem(self.signing_key.public_key())
        self.artifacts = ArtifactStore(self.db, settings.data_dir / "artifacts", self.signing_key)
        self.cohort = GalleryCohort(settings.cohort_path)
        self.models = HubModels(settings.pipeline, pipeline or FacePipeline.from_config(settings.pipeline),
                                self.artifacts, self.embedding_store, settings.data_dir / "training")
        self.enroller = Enroller(lambda: self.models.pipeline, settings.enroll)
        self.searcher = Enroller(self.models.query_pipeline, settings.enroll)
        self.devices = DeviceRegistry(self.db)
        self.collections = Collections(self.db, self.tokens, self.devices, settings.data_dir / "collections",
                                       settings.collect)
        self.reembedder = Reembedder(self.db, self.library, self.models, self.device_models)
        self.training = HubTraining(settings, self.models, self.library, self.artifacts, self.activate_model)
        self.events = RecentEvents(settings.live_events)
        self.refusals = Refusals()
        self.visitor_store = VisitorStore(self.db, settings.data_dir / "tracks", settings.visitors)
        self.deletions = Deletions(self.db, self.library, self.artifacts.root, self.visitor_store)
        self.suggestions = Suggestions(self.db, self.library, settings.visitors.suggest, settings.enroll.min_sharpness,
                                       settings.visitors.match_threshold, lambda: self.models.pipeline)
        self.visitors = VisitorIntake(self.visitor_store, self.suggestions, settings.visitors, self.enroll_crops)
        self.visitor_thread = IntakeThread(self.visitors)
        self.topics = Topics(settings.mqtt.topic_prefix if settings.mqtt else "facefleet")
        self.mqtt: HubMqtt | None = None
        if settings.mqtt is not None:
            handlers = DeviceHandlers(
                status=self.on_status,
                offline=self.devices.mark_offline,
                update_state=self._on_update_state,
                event=self._on_event,
                stats=self.devices.record_stats,
            )
            self.mqtt = HubMqtt(settings.mqtt, handlers, self.refusals)
        self.home_assistant_queue = RetainedQueue(self._publish_queued)
        self.home_assistant = HomeAssistant(settings.home_assistant, self.topics, self.home_assistant_queue.put,
                                            settings.data_dir / "home_assistant.json")
        if self.mqtt is not None:
            self.mqtt.on_ack = self.home_assistant_queue.acked
        # the library commits, then the 1:N index and Home Assistant follow (whichever path wrote: an upload,
        # a deletion, a named visitor, an accepted suggestion, "not this person")
        self.library.followers.append(self.search_index)
        self.library.followers.append(LiveViewFollower(self.events))
        if settings.home_assistant.enabled:  # otherwise a person change would be read back for nothing
            self.library.followers.append(HomeAssistantFollower(self.library, self.home_assistant))
        self.streams = StreamService(settings.stream, self.tokens, self.db, self.artifacts,
                                     lambda: self.models.pipeline, self.topics,
                                     self._publish_event if self.mqtt is not None else None)
        self.rollouts = RolloutEngine(self.db, self.topics, self._publish, self.artifact_urls)
        self.releases = ReleaseRollouts(self.db, self.rollouts)
        self.metrics = HubMetrics(
            self._count_by_state("devices"),
            self._count_by_state("rollouts"),
            self.devices.latest_stats,
            self.events.snapshot_counts,
            self.refusals.snapshot,
        )
        self.metrics.registry.register(StreamCollector(self.streams))
        self.metrics.registry.register(StoreCollector(self.db.pool_counts))
        self.metrics.registry.register(VisitorCollector(lambda: self.visitors.counts, self.visitor_store.count))
        self.metrics.registry.register(PublishCollector(
            lambda: self.mqtt.publish_failed if self.mqtt else 0,
            lambda: dataclasses.asdict(self.home_assistant_queue.counts), self.home_assistant_queue.pending))
        self._ticker: asyncio.Task[None] | None = None

    def _count_by_state(self, table: str) -> Callable[[], dict[str, int]]:
        def count() -> dict[str, int]:
            with self.db.read() as db:
                return dict(db.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state").fetchall())

        return count

    @property
    def pipeline(self) -> FacePipeline:
        """The active model's pipeline."""
        return self.models.pipeline

    def device_models(self) -> set[str]:
        """The models registered devices run (their embeddings survive a switch of the hub's model)."""
        return {d.model_id for d in self.devices.registered() if d.model_id}

    def activate_model(self, model: ArtifactRecord) -> ReembedJob | None:
        """Make a `model` artifact the hub's model: re-embed the library in the background, then switch."""
        return self.reembedder.start(model.model_id, model.version)

    def build_gallery(self, model_id: str | None = None) -> ArtifactRecord:
        """A gallery of everyone for `model_id` (default: the active model). Samples without an embedding
        of that model (enrolled after the hub switched away from it, or pruned) are embedded first."""
        model_id = model_id or self.library.model_id
        pipeline = self.models.pipeline_for(model_id)
        embed_missing(self.library, self.embedding_store, model_id, pipeline)
        names = {p.id: p.name for p in self.library.people()}
        ignores = ignore_entries(self.visitor_store, model_id, pipeline.embedder.embed)
        return self.artifacts.build_gallery(self.library.embeddings(model_id=model_id), names,
                                            pipeline.embedder.dim, ignores=ignores,
                                            cohort=self.cohort.embeddings(pipeline))

    def _on_event(self, event: TrackEvent) -> None:
        """A track event from MQTT, checked against its topic: the live view keeps it (dropping repeats),
        the visitor intake stores a new one on its own thread."""
        if self.events.add(event):
            self.visitor_thread.submit(event)
            self.home_assistant.track_event(event)

    def enroll_crops(self, label: str, crops: list[tuple[str, bytes]]) -> tuple[int, str]:
        """Track crops into the library through the enrollment path (auto-accepted suggestions)."""
        limit = self.settings.enroll.max_samples_per_person
        added, why = enroll_crops(self.enroller, self.library, label, crops, limit)
        self.metrics.samples_added.inc(added)
        return added, why

    def gallery_plan(self, version: str, targets: list[str]) -> list[tuple[str, list[str]]]:
        """Which gallery version each target gets: `version` where a device runs its model (or has not said
        what it runs), else one built now for the model the device runs. All are built before any rollout
        starts, so an UnknownModelError leaves nothing half started. The `version` group comes first."""
        record = self.artifacts.get("gallery", version)
        running = {d.id: d.model_id for d in self.devices.registered()}
        groups: dict[str, list[str]] = {}
        for device in targets:
            groups.setdefault(running.get(device) or record.model_id, []).append(device)
        ordered = sorted(groups.items(), key=lambda group: group[0] != record.model_id)
        return [(version if model == record.model_id else self.build_gallery(model).version, devices)
                for model, devices in ordered]

    def start_rollouts(self, kind: ArtifactKind, version: str, targets: list[str], canaries: list[str],
                       timeout_s: float) -> list[Rollout]:
        """One rollout, or for a gallery one per model the targets run (`gallery_plan`), each with the
        canaries among its targets."""
        check_targets(targets, canaries)  # before any gallery is built for them
        plan = self.gallery_plan(version, targets) if kind == "gallery" else [(version, targets)]
        return [self.rollouts.start(kind, v, devices, [c for c in canaries if c in devices], timeout_s)
                for v, devices in plan]

    def artifact_urls(self, kind: ArtifactKind, version: str) -> tuple[str, str]:
        base = f"{self.settings.base_url}/api/artifacts/{kind}/{version}"
        return f"{base}/manifest", f"{base}/file"

    def ask_collection(self, ask: CollectionAsk, requested_by: str) -> Collection:
        """Record a collection request and send it (with its one-use token) to the device's own topic."""
        if self.mqtt is None:
            raise RuntimeError("no MQTT broker configured: devices cannot be asked")
        collection, message = self.collections.ask(ask, requested_by)
        expiry_s = (message.expires - message.ts).total_seconds()
        self.mqtt.send(self.topics.collect(ask.device_id), message.model_dump_json().encode(), expiry_s)
        return collection

    def _publish(self, topic: str, payload: bytes) -> None:
        if self.mqtt is None:
            raise RuntimeError("no MQTT broker configured: rollouts cannot be announced")
        self.mqtt.publish(topic, payload)

    def _publish_event(self, topic: str, payload: bytes) -> None:
        """A thin camera's track event (`hub.streams`): QoS 1, not retained, as an agent publishes it."""
        if self.mqtt is not None:
            self.mqtt.publish(topic, payload, retain=False)

    def _publish_queued(self, topic: str, payload: bytes) -> int | None:
        """What the retained queue sends through: the MQTT link's message id, None when refused."""
        return self.mqtt.publish(topic, payload) if self.mqtt is not None else None

    def _on_update_state(self, report: UpdateState) -> bool:
        """A report for a rollout that announced to its device advances that rollout and updates the version
        the registry shows the device running; any other report changes nothing (False)."""
        if self.rollouts.handle_state(report) is None:
            return False
        if report.state == "applied":
            self.devices.set_running(report.device_id, report.kind, report.version)
        elif report.running_version:
            self.devices.set_running(report.device_id, report.kind, report.running_version)
        return True

    def on_status(self, status: DeviceStatus) -> None:
        if self.devices.update(status):
            self.home_assistant.device_status(status)

    def forget_device(self, device_id: str) -> None:
        """Remove a device from the registry, clear its retained status, remove its Home Assistant sensors."""
        if not self.devices.remove(device_id):
            raise NotFoundError(f"no device {device_id}")
        if self.mqtt is not None:
            self.mqtt.publish(self.topics.status(device_id), b"")  # an empty retained message clears it
        self.home_assistant.device_removed(device_id)

    async def start(self) -> None:
        if spooled := uploads.clean(self.settings.data_dir):
            log.warning("upload recovery: %d spooled uploads of interrupted requests removed", spooled)
        moved, removed = self.library.recover()
        if orphans := self.artifacts.clean_tmp():
            log.warning("artifact recovery: %d half-built artifact folders removed", orphans)
        if moved or removed:
            log.warning(
                "library recovery: %d staged samples moved into place, %d orphan files removed",
                moved,
                removed,
            )
        self.reembedder.resume()
        self.visitors.start()
        self.visitor_thread.start()
        await asyncio.to_thread(self.search_index.rebuild)
        if self.settings.home_assistant.enabled:
            self.home_assistant_queue.start()
        self.home_assistant.start(self.library.people, self.devices.registered)
        if reason := training_unavailable():
            log.warning("%s; the rest of the hub runs without it", reason)
        if self.mqtt is not None and not self.mqtt.start():
            log.warning(
                "MQTT broker %s:%s not reachable yet; retrying in the background",
                self.settings.mqtt.host if self.settings.mqtt else "",
                getattr(self.settings.mqtt, "port", 0),
            )
        self._ticker = asyncio.create_task(self._tick_forever())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await asyncio.to_thread(self.rollouts.tick)
                await asyncio.to_thread(self.releases.tick)
                await asyncio.to_thread(self.visitors.tick)
                await asyncio.to_thread(self.collections.expire)
            except Exception:
                log.exception("rollout tick failed")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.training.jobs.shutdown(timeout_s=30.0)  # cancels a running job: it must not outlive the database
        self.reembedder.stop(timeout_s=30.0)  # a running re-embedding resumes at the next start
        self.home_assistant_queue.stop()
        self.streams.stop()  # streams close with the server; their last events go out before the link stops
        if self.mqtt is not None:
            self.mqtt.stop()
        self.visitor_thread.stop(timeout_s=30.0)  # after the link: no event arrives any more
        self.db.close()
