"""The hub's composition root: builds every part from the settings, starts them, stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from facefleet.signing import load_or_create_key, public_pem
from facefleet.wire import DeviceStatus, Topics, UpdateState
from hub import uploads
from hub.db import HubDb
from hub.deletions import Deletions
from hub.devices import DeviceRegistry
from hub.enroll import Enroller
from hub.events import RecentEvents
from hub.galleries import ArtifactStore
from hub.library import Library
from hub.metrics import HubMetrics
from hub.mqtt import HubMqtt
from hub.release_rollout import ReleaseRollouts
from hub.rollout import RolloutEngine
from hub.settings import HubSettings
from hub.tokens import TokenStore
from hub.training_service import HubTraining
from models.pipeline import FacePipeline, PipelineConfig

log = logging.getLogger(__name__)
TICK_S = 1.0


def query_pipeline(pipeline: FacePipeline, config: PipelineConfig) -> FacePipeline:
    """The pipeline 1:N search and verify run on, beside enrollment's. onnxruntime sessions may run from
    several threads at once, so they are shared (no second copy of the weights); other backends (a
    TensorRT execution context is single-threaded) get an instance of their own."""
    if config.backend.type == "onnxruntime":
        return pipeline
    return FacePipeline.from_config(config)


class Hub:
    def __init__(self, settings: HubSettings, pipeline: FacePipeline | None = None) -> None:
        self.settings = settings
        self.pipeline = pipeline or FacePipeline.from_config(settings.pipeline)
        self.db = HubDb(settings.data_dir / "hub.sqlite")
        self.db.migrate()
        self.tokens = TokenStore(self.db)
        if settings.admin_token is not None:
            self.tokens.ensure("admin (environment)", settings.admin_token.get_secret_value(), ["admin"])
        self.library = Library(self.db, settings.data_dir / "samples", self.pipeline.model_id)
        self.enroller = Enroller(self.pipeline, settings.enroll)
        self.searcher = Enroller(query_pipeline(self.pipeline, settings.pipeline), settings.enroll)
        self.signing_key = load_or_create_key(settings.key_path)
        self.public_key_pem = public_pem(self.signing_key.public_key())
        self.artifacts = ArtifactStore(self.db, settings.data_dir / "artifacts", self.signing_key)
        self.deletions = Deletions(self.db, self.library, self.artifacts.root)
        self.devices = DeviceRegistry(self.db)
        self.training = HubTraining(settings, self.pipeline, self.library, self.artifacts, self.signing_key)
        self.events = RecentEvents(settings.live_events)
        self.topics = Topics(settings.mqtt.topic_prefix if settings.mqtt else "facefleet")
        self.mqtt: HubMqtt | None = None
        if settings.mqtt is not None:
            self.mqtt = HubMqtt(
                settings.mqtt,
                self.devices.update,
                self.devices.mark_offline,
                self._on_update_state,
                self.events.ingest,
            )
        self.rollouts = RolloutEngine(self.db, self.topics, self._publish, self.artifact_urls)
        self.releases = ReleaseRollouts(self.db, self.rollouts)
        self.metrics = HubMetrics(
            self._count_by_state("devices"), self._count_by_state("rollouts"), self.events.snapshot_counts
        )
        self._ticker: asyncio.Task[None] | None = None

    def _count_by_state(self, table: str) -> Callable[[], dict[str, int]]:
        def count() -> dict[str, int]:
            with self.db.read() as db:
                return dict(db.execute(f"SELECT state, COUNT(*) FROM {table} GROUP BY state").fetchall())

        return count

    def artifact_urls(self, kind: str, version: str) -> tuple[str, str]:
        base = f"{self.settings.base_url}/api/artifacts/{kind}/{version}"
        return f"{base}/manifest", f"{base}/file"

    def _publish(self, topic: str, payload: bytes) -> None:
        if self.mqtt is None:
            raise RuntimeError("no MQTT broker configured: rollouts cannot be announced")
        self.mqtt.publish(topic, payload)

    def _on_update_state(self, report: UpdateState) -> None:
        """A device report advances its rollout and updates the version the registry shows it running."""
        self.rollouts.handle_state(report)
        if report.state == "applied":
            self.devices.set_running(report.device_id, report.kind, report.version)
        elif report.running_version:
            self.devices.set_running(report.device_id, report.kind, report.running_version)

    def on_status(self, status: DeviceStatus) -> None:
        self.devices.update(status)

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
            except Exception:
                log.exception("rollout tick failed")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.training.jobs.shutdown(timeout_s=30.0)  # cancels a running job: it must not outlive the database
        if self.mqtt is not None:
            self.mqtt.stop()
        self.db.close()
