"""The hub's side of the broker, or its absence, for the parts that publish.

The MQTT client is built after the parts that publish through it, because the device handlers it is given
are theirs: those parts hold this link instead, and `attach` builds the client once the handlers exist.
Without a configured broker every publish that a user asked for (a rollout, a collection request) is
refused with a RuntimeError, and those nobody waits for (a thin camera's event, a Home Assistant message)
are dropped.
"""

from __future__ import annotations

from hub.fleet.intake import Refusals
from hub.fleet.mqtt import DeviceHandlers, HubMqtt
from hub.settings import MqttConfig


class BrokerLink:
    def __init__(self, config: MqttConfig | None) -> None:
        self.config = config
        self.mqtt: HubMqtt | None = None

    def attach(self, handlers: DeviceHandlers, refusals: Refusals) -> HubMqtt | None:
        """Build the MQTT client with the device handlers (None without a configured broker)."""
        if self.config is not None:
            self.mqtt = HubMqtt(self.config, handlers, refusals)
        return self.mqtt

    @property
    def publish_failed(self) -> int:
        return self.mqtt.publish_failed if self.mqtt is not None else 0

    def publish(self, topic: str, payload: bytes) -> None:
        """Retained, QoS 1 (a rollout's announcement); RuntimeError without a broker."""
        self._required("rollouts cannot be announced").publish(topic, payload)

    def send(self, topic: str, payload: bytes, expiry_s: float) -> None:
        """Not retained, dropped by the broker after `expiry_s` (a collection request); RuntimeError without a
        broker."""
        self._required("devices cannot be asked").send(topic, payload, expiry_s)

    def publish_event(self, topic: str, payload: bytes) -> None:
        """A thin camera's track event (`hub.streams`): QoS 1, not retained, as an agent publishes it."""
        if self.mqtt is not None:
            self.mqtt.publish(topic, payload, retain=False)

    def publish_queued(self, topic: str, payload: bytes) -> int | None:
        """What the retained queue sends through: the MQTT link's message id, None when refused."""
        return self.mqtt.publish(topic, payload) if self.mqtt is not None else None

    def clear_retained(self, topic: str) -> None:
        """An empty retained message clears the retained one (a forgotten device's status)."""
        if self.mqtt is not None:
            self.mqtt.publish(topic, b"")

    def _required(self, why: str) -> HubMqtt:
        if self.mqtt is None:
            raise RuntimeError(f"no MQTT broker configured: {why}")
        return self.mqtt
