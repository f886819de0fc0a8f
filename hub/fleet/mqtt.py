"""The hub's MQTT link: follows device status, stats, update reports and track events, publishes announcements.

Owns connect, reconnect, TLS and subscriptions. A message's device is the topic's device segment (which
the broker's ACL ties to the MQTT user name); `hub.fleet.intake` checks the payload against it, and only typed,
matching payloads reach the registry, the rollout engine and the live view. MQTT 5 with a persistent
session (`clean_start=False`, `session_expiry_s`): while the hub is away the broker keeps its
subscriptions and queues the QoS 1 events and reports for it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from facefleet.wire import DeviceStats, DeviceStatus, Topics, TrackEvent, UpdateState
from hub.fleet.intake import Kind, Refusals, Refused, parse_claimed, split_topic
from hub.settings import MqttConfig

log = logging.getLogger(__name__)
OFFLINE_WILLS = (b"offline", b'"offline"')


@dataclass(frozen=True)
class DeviceHandlers:
    """Where checked device messages go. `update_state` answers False for a report it does not accept."""

    status: Callable[[DeviceStatus], None]
    offline: Callable[[str], None]
    update_state: Callable[[UpdateState], bool]
    event: Callable[[TrackEvent], object] | None = None
    stats: Callable[[DeviceStats], None] | None = None


class HubMqtt:
    def __init__(self, config: MqttConfig, handlers: DeviceHandlers, refusals: Refusals) -> None:
        self.config = config
        self.topics = Topics(config.topic_prefix)
        self.handlers = handlers
        self.refusals = refusals
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id, protocol=mqtt.MQTTv5)
        if config.username:
            self.client.username_pw_set(config.username, config.password.get_secret_value())
        if config.tls is not None:
            tls = config.tls
            self.client.tls_set(
                ca_certs=str(tls.ca_file),
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
            )
        self.publish_failed = 0  # publishes the client refused (its queue full): counted, not only logged
        self.on_ack: Callable[[int], None] = lambda mid: None  # told each acknowledged message id
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_publish = lambda client, userdata, mid, reason_code, properties: self.on_ack(mid)
        self.client.reconnect_delay_set(1, 30)

    def start(self, wait_s: float = 5.0) -> bool:
        """Connect in the background; True when connected within `wait_s` (it keeps retrying otherwise)."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect_async(self.config.host, self.config.port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        return self.connected.wait(wait_s)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, topic: str, payload: bytes, retain: bool = True) -> int | None:
        """Retained QoS 1: a device that is offline now gets the announcement when it comes back (`retain`
        False: a thin camera's track event, which `hub.streams` publishes as its agent would). Returns the
        message id once the client took it (while disconnected it waits in the client for the reconnect),
        None when the client refused it (counted in `publish_failed`)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return info.mid
        self.publish_failed += 1
        if self.publish_failed <= 20 or self.publish_failed % 1000 == 0:
            log.warning(
                "publish to %s refused by the MQTT client (rc %s; %d so far)", topic, info.rc, self.publish_failed
            )
        return None

    def send(self, topic: str, payload: bytes, expiry_s: float) -> bool:
        """Not retained, QoS 1, dropped by the broker after `expiry_s` (MQTT 5 message expiry): a request that
        is useless later (a collection) must not reach a device that comes back after it expired. False
        when the client refused it."""
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.MessageExpiryInterval = max(1, int(expiry_s))
        info = self.client.publish(topic, payload, qos=1, retain=False, properties=props)
        if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            return True
        self.publish_failed += 1
        log.warning("publish to %s refused by the MQTT client (rc %s)", topic, info.rc)
        return False

    def _subscriptions(self) -> list[tuple[str, int]]:
        kinds = ["status", "updates/state"]
        kinds += ["events"] if self.handlers.event is not None else []
        kinds += ["stats"] if self.handlers.stats is not None else []
        return [(self.topics.all_of(kind), 1) for kind in kinds]

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error("MQTT connect to %s:%s refused: %s", self.config.host, self.config.port, reason_code)
            return
        client.subscribe(self._subscriptions())
        self.connected.set()
        log.info(
            "MQTT connected to %s:%s (session present: %s)",
            self.config.host,
            self.config.port,
            flags.session_present,
        )

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.connected.clear()
        log.warning("MQTT disconnected (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        where = split_topic(self.topics.prefix, message.topic)
        if where is None:
            return  # not a device message (a subscription pattern matched an unexpected topic)
        device_id, kind = where
        payload = bytes(message.payload)
        try:
            self._dispatch(kind, device_id, payload)
        except Refused as exc:
            self.refusals.refuse(kind, device_id, exc, payload)
        except Exception as exc:  # a bad message must not kill the network thread, nor flood the log
            failed = Refused("error", f"handling it failed: {type(exc).__name__}: {exc}"[:300])
            self.refusals.refuse(kind, device_id, failed, payload, cause=exc)

    def _dispatch(self, kind: Kind, device_id: str, payload: bytes) -> None:
        """Hand one message from `device_id` (the topic's) to its handler; raises `Refused`."""
        h = self.handlers
        if kind == "status":
            if payload.strip() in OFFLINE_WILLS:
                h.offline(device_id)
            elif payload:  # an empty payload clears a retained message: nothing to record
                h.status(parse_claimed(DeviceStatus, device_id, payload))
        elif kind == "updates/state":
            report = parse_claimed(UpdateState, device_id, payload)
            if not h.update_state(report):
                raise Refused("not_a_target", f"rollout {report.rollout_id[:64]!r} never announced to it")
        elif kind == "events" and h.event is not None:
            h.event(parse_claimed(TrackEvent, device_id, payload))
        elif kind == "stats" and h.stats is not None:
            h.stats(parse_claimed(DeviceStats, device_id, payload))
