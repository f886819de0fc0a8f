"""The hub's MQTT link: follows device status, update reports and track events, publishes announcements.

Owns connect, reconnect and subscriptions; hands typed payloads to the registry and the rollout engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from facefleet.wire import DeviceStatus, Topics, UpdateState
from hub.settings import MqttConfig

log = logging.getLogger(__name__)


class HubMqtt:
    def __init__(
        self,
        config: MqttConfig,
        on_status: Callable[[DeviceStatus], None],
        on_offline: Callable[[str], None],
        on_update_state: Callable[[UpdateState], None],
        on_event: Callable[[bytes], object] | None = None,
    ) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix)
        self.on_status = on_status
        self.on_offline = on_offline
        self.on_update_state = on_update_state
        self.on_event = on_event
        self.connected = threading.Event()
        # A persistent session: events published while the hub (or the broker) restarts wait in the broker.
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False)
        if config.username:
            self.client.username_pw_set(config.username, config.password.get_secret_value())
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 30)

    def start(self, wait_s: float = 5.0) -> bool:
        """Connect in the background; True when connected within `wait_s` (it keeps retrying otherwise)."""
        self.client.connect_async(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()
        return self.connected.wait(wait_s)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes) -> None:
        """Retained QoS 1: a device that is offline now gets the announcement when it comes back."""
        info = self.client.publish(topic, payload, qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            log.warning("publish to %s failed with rc %s", topic, info.rc)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("MQTT connect to %s:%s refused: %s", self.config.host, self.config.port, reason_code)
            return
        topics = [(self.topics.all_of("status"), 1), (self.topics.all_of("updates/state"), 1)]
        if self.on_event is not None:
            topics.append((self.topics.all_of("events"), 1))
        client.subscribe(topics)
        self.connected.set()
        log.info("MQTT connected to %s:%s", self.config.host, self.config.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        log.warning("MQTT disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        parts = message.topic.split("/")
        try:
            if message.topic.endswith("/events") and self.on_event is not None:
                self.on_event(message.payload)  # parses, deduplicates and counts malformed payloads itself
            elif message.topic.endswith("/updates/state"):
                self.on_update_state(UpdateState.model_validate_json(message.payload))
            elif message.topic.endswith("/status"):
                self._status(parts[-2], message.payload)
        except ValidationError as exc:
            log.warning("ignoring malformed message on %s: %s", message.topic, exc.errors()[:1])
        except Exception:  # a bad message must not kill the network thread
            log.exception("handling a message on %s failed", message.topic)

    def _status(self, device_id: str, payload: bytes) -> None:
        if payload.strip() in (b"offline", b'"offline"'):
            self.on_offline(device_id)
        elif payload:
            self.on_status(DeviceStatus.model_validate_json(payload))
