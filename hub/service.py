"""The hub's composition root: builds every part from the settings, starts them, stops them in exact reverse.

Nothing here is a domain operation: each part owns its own (enrollment `hub.library.enrolling`, galleries
`hub.artifacts.galleries`, rollouts `hub.fleet.rollout`, what devices report `hub.fleet.fleet`), and the
web API's routers depend on the parts they use (`hub.api.deps`), not on this object.
"""

from __future__ import annotations

import dataclasses
import logging

from facefleet.signing import load_or_create_key
from facefleet.wire import Topics
from hub.artifacts.cohort import GalleryCohort
from hub.artifacts.galleries import Galleries
from hub.artifacts.store import ArtifactStore, ArtifactUrls
from hub.db import HubDb
from hub.fleet.collections import Collections
from hub.fleet.devices import DeviceRegistry
from hub.fleet.events import EventRoute, LiveViewFollower, RecentEvents
from hub.fleet.fleet import Fleet
from hub.fleet.home_assistant import HomeAssistant, HomeAssistantFollower
from hub.fleet.intake import Refusals
from hub.fleet.link import BrokerLink
from hub.fleet.release_rollout import ReleaseRollouts
from hub.fleet.retained_queue import RetainedQueue
from hub.fleet.rollout import RolloutEngine
from hub.library import uploads
from hub.library.active_model import HubModels
from hub.library.deletions import Deletions
from hub.library.embeddings import EmbeddingStore
from hub.library.enroll import Enroller
from hub.library.enrolling import Enrollment
from hub.library.library import Library
from hub.library.reembed import Reembedder
from hub.library.search_index import LibraryIndex
from hub.lifecycle import Lifecycle, Part, Ticker, blocking
from hub.metrics import HubMetrics, PublishCollector, StoreCollector, count_by_state
from hub.settings import HubSettings
from hub.streams.metrics import StreamCollector
from hub.streams.service import StreamService
from hub.tokens import TokenStore
from hub.training.service import HubTraining, training_unavailable
from hub.visitors.intake import IntakeThread, VisitorIntake
from hub.visitors.metrics import VisitorCollector
from hub.visitors.store import VisitorStore
from hub.visitors.suggestions import Suggestions
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)
TICK_S = 1.0


class Hub:
    def __init__(self, settings: HubSettings, pipeline: FacePipeline | None = None) -> None:
        """pipeline: the configured model's pipeline, when the caller has built it already (tests)."""
        self.settings = settings
        self.db = HubDb(settings.database_target, settings.database.connect_timeout_s)
        self.db.migrate()
        self.tokens = TokenStore(self.db)
        self.tokens.set_environment_admin(settings.admin_token.get_secret_value() if settings.admin_token else None)
        self.topics = Topics(settings.mqtt.topic_prefix if settings.mqtt else "facefleet")
        self.link = BrokerLink(settings.mqtt)
        self._library(pipeline)
        self.devices = DeviceRegistry(self.db)
        self.events = RecentEvents(settings.live_events)
        self.refusals = Refusals()
        self.metrics = HubMetrics(
            count_by_state(self.db, "devices"),
            count_by_state(self.db, "rollouts"),
            self.devices.latest_stats,
            self.events.snapshot_counts,
            self.refusals.snapshot,
        )
        self.enrollment = Enrollment(self.enroller, self.library, settings.enroll.max_samples_per_person, self.metrics)
        self._visitors()
        self._fleet()
        self._followers()
        self._collect_metrics()
        self.lifecycle = Lifecycle()

    def _library(self, pipeline: FacePipeline | None) -> None:
        """The library, its embeddings and 1:N index, the signed artifacts and the hub's models."""
        settings = self.settings
        self.embedding_store = EmbeddingStore(self.db)
        self.library = Library(self.db, settings.data_dir / "samples", self.embedding_store)
        self.search_index = LibraryIndex(self.embedding_store, settings.search)
        self.artifacts = ArtifactStore(self.db, settings.data_dir / "artifacts", load_or_create_key(settings.key_path))
        self.artifact_urls = ArtifactUrls(settings.base_url)
        self.cohort = GalleryCohort(settings.cohort_path)
        self.models = HubModels(
            settings.pipeline,
            pipeline or FacePipeline.from_config(settings.pipeline),
            self.artifacts,
            self.embedding_store,
            settings.data_dir / "training",
        )
        self.enroller = Enroller(lambda: self.models.pipeline, settings.enroll)
        self.searcher = Enroller(self.models.query_pipeline, settings.enroll)

    def _visitors(self) -> None:
        """Unknown tracks into visitors, suggested samples, and deletions (of people and visitors)."""
        settings = self.settings
        self.visitor_store = VisitorStore(self.db, settings.data_dir / "tracks", settings.visitors)
        self.deletions = Deletions(self.db, self.library, self.artifacts.root, self.visitor_store)
        self.suggestions = Suggestions(
            self.db,
            self.library,
            settings.visitors.suggest,
            settings.enroll.min_sharpness,
            settings.visitors.match_threshold,
            lambda: self.models.pipeline,
        )
        self.visitors = VisitorIntake(
            self.visitor_store, self.suggestions, settings.visitors, self.enrollment.accept_crops
        )
        self.visitor_thread = IntakeThread(self.visitors)

    def _fleet(self) -> None:
        """Galleries, rollouts, devices, collections, Home Assistant, thin cameras, retraining, and the MQTT
        link whose handlers are theirs."""
        settings = self.settings
        self.galleries = Galleries(
            self.library,
            self.embedding_store,
            self.models,
            self.visitor_store,
            self.artifacts,
            self.cohort,
            self.devices,
            self.metrics.gallery_builds,
        )
        self.reembedder = Reembedder(self.db, self.library, self.models, self.devices.models_running)
        self.training = HubTraining(settings, self.models, self.library, self.artifacts, self.reembedder.activate)
        self.collections = Collections(
            self.db, self.tokens, self.devices, settings.data_dir / "collections", settings.collect
        )
        self.rollouts = RolloutEngine(
            self.db, self.topics, self.link.publish, self.artifact_urls, plan_galleries=self.galleries.plan
        )
        self.releases = ReleaseRollouts(self.db, self.rollouts)
        self.home_assistant_queue = RetainedQueue(self.link.publish_queued)
        self.home_assistant = HomeAssistant(
            settings.home_assistant,
            self.topics,
            self.home_assistant_queue.put,
            settings.data_dir / "home_assistant.json",
        )
        self.fleet = Fleet(self.devices, self.rollouts, self.collections, self.home_assistant, self.topics, self.link)
        route = EventRoute(self.events, (self.visitor_thread.submit, self.home_assistant.track_event))
        self.mqtt = self.link.attach(self.fleet.handlers(route), self.refusals)
        if self.mqtt is not None:
            self.mqtt.on_ack = self.home_assistant_queue.acked
        self.streams = StreamService(
            settings.stream,
            self.tokens,
            self.db,
            self.artifacts,
            lambda: self.models.pipeline,
            self.topics,
            self.link.publish_event if self.mqtt is not None else None,
        )

    def _followers(self) -> None:
        """The library commits, then the 1:N index, the live view and Home Assistant follow (whichever path
        wrote: an upload, a deletion, a named visitor, an accepted suggestion, "not this person")."""
        self.library.followers.append(self.search_index)
        self.library.followers.append(LiveViewFollower(self.events))
        if self.settings.home_assistant.enabled:  # otherwise a person change would be read back for nothing
            self.library.followers.append(HomeAssistantFollower(self.library, self.home_assistant))

    def _collect_metrics(self) -> None:
        registry = self.metrics.registry
        registry.register(StreamCollector(self.streams))
        registry.register(StoreCollector(self.db.pool_counts))
        registry.register(VisitorCollector(lambda: self.visitors.counts, self.visitor_store.count))
        registry.register(
            PublishCollector(
                lambda: self.link.publish_failed,
                lambda: dataclasses.asdict(self.home_assistant_queue.counts),
                self.home_assistant_queue.pending,
            )
        )

    def parts(self) -> list[Part]:
        """What `start` starts, in order; `stop` stops them in reverse. The MQTT link starts after the parts
        its handlers feed (the visitor thread: no event arrives once the link stops) and before those that
        publish through it (Home Assistant's queue and thin cameras' streams, whose last messages go out
        before the link stops; the ticker's rollout timeouts)."""
        ticker = Ticker([self.rollouts.tick, self.releases.tick, self.visitors.tick, self.collections.expire], TICK_S)
        return [
            Part("database", stop=blocking(self.db.close)),
            Part("recovery", start=blocking(self._recover)),
            Part("training", start=blocking(_say_training), stop=blocking(lambda: self.training.jobs.shutdown(30.0))),
            Part("re-embedding", start=blocking(self.reembedder.resume), stop=blocking(self.reembedder.stop)),
            Part("visitors", start=blocking(self._start_visitors), stop=blocking(self.visitor_thread.stop)),
            Part("search index", start=blocking(self.search_index.rebuild)),
            Part("mqtt", start=blocking(self._start_mqtt), stop=blocking(self._stop_mqtt)),
            Part(
                "home assistant",
                start=blocking(self._start_home_assistant),
                stop=blocking(self.home_assistant_queue.stop),
            ),
            Part("streams", stop=blocking(self.streams.stop)),
            Part("ticker", start=ticker.start, stop=ticker.stop),
        ]

    async def start(self) -> None:
        await self.lifecycle.start(self.parts())

    async def stop(self) -> None:
        await self.lifecycle.stop()

    def _recover(self) -> None:
        """What an interrupted run left: spooled uploads, staged samples, half-built artifacts."""
        if spooled := uploads.clean(self.settings.data_dir):
            log.warning("upload recovery: %d spooled uploads of interrupted requests removed", spooled)
        moved, removed = self.library.recover()
        if moved or removed:
            log.warning("library recovery: %d staged samples moved into place, %d orphan files removed", moved, removed)
        if orphans := self.artifacts.clean_tmp():
            log.warning("artifact recovery: %d half-built artifact folders removed", orphans)

    def _start_visitors(self) -> None:
        self.visitors.start()
        self.visitor_thread.start()

    def _start_home_assistant(self) -> None:
        if self.settings.home_assistant.enabled:
            self.home_assistant_queue.start()
        self.home_assistant.start(self.library.people, self.devices.registered)

    def _start_mqtt(self) -> None:
        if self.mqtt is not None and not self.mqtt.start():
            config = self.mqtt.config
            log.warning("MQTT broker %s:%s not reachable yet; retrying in the background", config.host, config.port)

    def _stop_mqtt(self) -> None:
        if self.mqtt is not None:
            self.mqtt.stop()


def _say_training() -> None:
    if reason := training_unavailable():
        log.warning("%s; the rest of the hub runs without it", reason)
