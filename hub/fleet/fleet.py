"""What devices report over MQTT and what the hub does to one device: the fleet's domain operations.

A status updates the registry (and Home Assistant's device entities); an update-state report advances the
rollout that announced to the device and sets the version the registry shows it running; forgetting a
device removes its row, clears its retained status and its Home Assistant sensors; a collection request
goes to the device's own topic with its one-use token.
"""

from __future__ import annotations

from collections.abc import Callable

from facefleet.wire import DeviceStatus, Topics, TrackEvent, UpdateState
from hub.errors import NotFoundError
from hub.fleet.collections import Collection, CollectionAsk, Collections
from hub.fleet.devices import DeviceRegistry
from hub.fleet.home_assistant import HomeAssistant
from hub.fleet.link import BrokerLink
from hub.fleet.mqtt import DeviceHandlers
from hub.fleet.rollout import RolloutEngine


class Fleet:
    def __init__(
        self,
        devices: DeviceRegistry,
        rollouts: RolloutEngine,
        collections: Collections,
        home_assistant: HomeAssistant,
        topics: Topics,
        link: BrokerLink,
    ) -> None:
        self.devices, self.rollouts, self.collections = devices, rollouts, collections
        self.home_assistant, self.topics, self.link = home_assistant, topics, link

    def handlers(self, event: Callable[[TrackEvent], object]) -> DeviceHandlers:
        """Where the MQTT link delivers checked device messages; `event`: track events."""
        return DeviceHandlers(
            status=self.on_status,
            offline=self.devices.mark_offline,
            update_state=self.on_update_state,
            event=event,
            stats=self.devices.record_stats,
        )

    def on_status(self, status: DeviceStatus) -> None:
        if self.devices.update(status):
            self.home_assistant.device_status(status)

    def on_update_state(self, report: UpdateState) -> bool:
        """A report for a rollout that announced to its device advances that rollout and updates the version
        the registry shows the device running; any other report changes nothing (False)."""
        if self.rollouts.handle_state(report) is None:
            return False
        if report.state == "applied":
            self.devices.set_running(report.device_id, report.kind, report.version)
        elif report.running_version:
            self.devices.set_running(report.device_id, report.kind, report.running_version)
        return True

    def forget_device(self, device_id: str) -> None:
        """Remove a device from the registry, clear its retained status, remove its Home Assistant sensors."""
        if not self.devices.remove(device_id):
            raise NotFoundError(f"no device {device_id}")
        self.link.clear_retained(self.topics.status(device_id))
        self.home_assistant.device_removed(device_id)

    def ask_collection(self, ask: CollectionAsk, requested_by: str) -> Collection:
        """Record a collection request and send it (with its one-use token) to the device's own topic."""
        if self.link.mqtt is None:
            raise RuntimeError("no MQTT broker configured: devices cannot be asked")
        collection, message = self.collections.ask(ask, requested_by)
        expiry_s = (message.expires - message.ts).total_seconds()
        self.link.send(self.topics.collect(ask.device_id), message.model_dump_json().encode(), expiry_s)
        return collection
