"""The agent's side of the hub: outbox, MQTT link (retained status, last will) and the updater on its topic.

Everything the hub sees of a device apart from its events and stats: the retained `online` status (with
the model and gallery it runs, republished after every switch) and the broker's `offline` last will, the
update announcements on `<prefix>/<device>/updates` handled by the `Updater`, and its reports sent through
the outbox (so a report made while the broker is away is delivered later). `EdgeApp` builds the cameras,
frame loop and HTTP port around one of these; the hub's fleet tests run several on one shared pipeline.
"""

from __future__ import annotations

import logging

from edge import __version__
from edge.config import ConfigError, EdgeConfig
from edge.deliver.mqtt_link import MqttLink
from edge.deliver.outbox import Outbox
from edge.ops.metrics import EdgeMetrics
from edge.recognize.model_gallery import ModelGalleryHolder, probe_crop
from edge.update.download import ArtifactFetcher
from edge.update.updates import Updater
from facefleet.signing import load_public_key
from facefleet.wire import DeviceStatus, UpdateState

log = logging.getLogger(__name__)


class HubLink:
    """Built stopped from the config; `start` connects and starts the updater, `stop` ends both.

    Secrets (MQTT password, device token) are read from their environment variables here, once.
    """

    def __init__(self, config: EdgeConfig, holder: ModelGalleryHolder, metrics: EdgeMetrics) -> None:
        self.config = config
        self.holder = holder
        self.metrics = metrics
        self.outbox = Outbox(config.outbox_path, config.outbox.max_events)
        status = DeviceStatus(
            device_id=config.device_id,
            state="online",
            agent_version=__version__,
            group=config.group,
            cameras=[c.name for c in config.cameras],
            **self._status_fields(),
        )
        self.link = MqttLink(config.mqtt, config.device_id, self.outbox, status)
        self.topics = self.link.topics
        self.updater = self._make_updater()

    def _make_updater(self) -> Updater | None:
        """The updater subscribed to this device's updates topic, or None when updates are off."""
        cfg = self.config.updates
        if not cfg.enabled:
            log.info("updates disabled by the config")
            return None
        if cfg.hub_public_key is None:
            log.warning("updates off: no updates.hub_public_key to verify them with")
            return None
        if not cfg.hub_public_key.is_file():
            raise ConfigError(f"updates.hub_public_key: {cfg.hub_public_key} does not exist")
        if cfg.hub_url is None:  # the config refuses a key without it; kept for a config built in code
            raise ConfigError("updates.hub_url is required with updates.hub_public_key")
        state_dir = self.config.state_dir
        fetcher = ArtifactFetcher(
            load_public_key(cfg.hub_public_key.read_bytes()),
            cfg.token,
            cfg.download_timeout_s,
            cfg.max_artifact_bytes,
            state_dir / "tmp",
            cfg.hub_url,
            cfg.tls,
        )
        updater = Updater(
            self.config.device_id,
            state_dir,
            fetcher,
            self.holder,
            self.config.pipeline,
            probe_crop(cfg.probe_crop),
            self.store_update_state,
            lambda reason: self.metrics.updates_refused.labels(reason).inc(),
        )
        self.link.subscribe(self.topics.updates(self.config.device_id), updater.on_message)
        return updater

    def start(self) -> None:
        self.link.start()
        if self.updater:
            self.updater.start()

    def stop(self) -> None:
        """Updater first (a report it makes still goes into the outbox), then `offline` and the disconnect."""
        if self.updater:
            self.updater.stop()
        self.link.stop()
        self.outbox.close()

    def store_update_state(self, state: UpdateState) -> None:
        """Queue an update report in the outbox; after a switch or a revert, republish the status."""
        self.outbox.append(
            self.topics.update_state(self.config.device_id),
            lambda _seq, _eid: state.model_dump_json().encode(),
            stream="updates",
        )
        if state.state in ("applied", "failed", "rolled_back"):
            self.metrics.updates.labels(state.kind, state.state).inc()
        if state.state in ("applied", "rolled_back"):
            self.link.update_status(self._status_fields())

    def _status_fields(self) -> dict[str, str]:
        rec = self.holder.current
        return {"model_version": rec.model_version, "model_id": rec.model_id, "gallery_version": rec.gallery.version}
