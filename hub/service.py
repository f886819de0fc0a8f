"""The hub's composition root: builds every part from the settings, starts them, stops them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from facefleet.signing import load_or_create_key, public_pem
from facefleet.wire import Topics, UpdateState
from hub.db import HubDb
from hub.devices import DeviceRegistry
from hub.enroll import Enroller
from hub.events import RecentEvents
from hub.galleries import ArtifactStore
from hub.intake import Refusals
from hub.library import Library
from hub.metrics import HubMetrics
from hub.mqtt import DeviceHandlers, HubMqtt
from hub.release_rollout import ReleaseRollouts
from hub.rollout import RolloutEngine
from hub.settings import HubSettings
from hub.tokens import TokenStore
from hub.training_service import HubTraining
from models.pipeline import FacePipeline

log = logging.getLogger(__name__)
TICK_S = 1.0


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
        self.signing_key = load_or_create_key(settings.key_path)
        self.public_key_pem = public_pem(self.signing_key.public_key())
        self.artifacts = ArtifactStore(self.db, settings.data_dir / "artifacts", self.signing_key)
        self.devices = DeviceRegistry(self.db)
        self.training = HubTraining(settings, self.pipeline, self.library, self.artifacts, self.signing_key)
        self.events = RecentEvents(settings.live_events)
        self.refusals = Refusals()
        self.topics = Topics(settings.mqtt.topic_prefix if settings.mqtt else "facefleet")
        self.mqtt: HubMqtt | None = None
        if settings.mqtt is not None:
            handlers = DeviceHandlers(
                status=self.devices.update,
                offline=self.devices.mark_offline,
                update_state=self._on_update_state,
                event=self.events.add,
                stats=self.devices.record_stats,
            )
            self.mqtt = HubMqtt(settings.mqtt, handlers, self.refusals)
        self.rollouts = RolloutEngine(self.db, self.topics, self._publish, self.artifact_urls)
        self.releases = ReleaseRollouts(self.rollouts)
        self.metrics = HubMetrics(
            self._count_by_state("devices"),
            self._count_by_state("rollouts"),
            self.devices.latest_stats,
            self.events.snapshot_counts,
            self.refusals.snapshot,
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

    async def start(self) -> None:
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
