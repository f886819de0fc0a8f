"""The MQTT link: a thin shell that drains the outbox to the broker and carries status and updates.

paho-mqtt 2.x, MQTT 5, persistent session (`clean_start=False`, session expiry > 0), QoS 1, retained
`online`/`offline` status with a last will. One sender thread owns the outbox side: it hands rows to paho
in seq order (at most `max_inflight` at a time) and deletes a row only when its PUBACK arrives. paho keeps
the messages it was handed and resends them, in order, after a reconnect; rows it never got (or that a
previous process left behind) are published when the link is up again. So a subscriber sees every event,
in order, at least once, and drops repeats by `event_id`.

A PUBACK that says "no matching subscribers" (MQTT 5 reason 0x10: the hub's session is gone, so nobody
got it) does not count as delivered: the row stays in the outbox and is sent again after a backoff
(`reconnect_min_s`, doubling up to `reconnect_max_s`) until a PUBACK says somebody took it. The broker
is verified over TLS when `mqtt.tls` is set (its CA, and its host name against `host`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel

from edge.config import MqttConfig
from edge.deliver.outbox import Outbox
from facefleet.wire import DeviceStatus, Topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]
AckOutcome = Literal["delivered", "refused", "unheard"]
_MAX_REFUSALS = 3
NO_MATCHING_SUBSCRIBERS = 0x10


class MqttLink:
    """Owns connect, reconnect, last will, topic prefix and the outbox drain for one device."""

    def __init__(self, config: MqttConfig, device_id: str, outbox: Outbox, status: DeviceStatus) -> None:
        self.config = config
        self.device_id = device_id
        self.topics = Topics(config.topic_prefix)
        self.outbox = outbox
        self.status = status
        self.connected = False
        self.connects = 0
        self._failed_connects = 0
        self._handlers: dict[str, MessageHandler] = {}
        self._acks: queue.SimpleQueue[tuple[int, AckOutcome]] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._handed_seq = 0  # rows up to here are in paho's hands
        self._refusals: dict[int, int] = {}
        self._unheard_backoff_s = 0.0  # 0 while PUBACKs say the rows were heard
        self._resend_at = 0.0  # monotonic time before which nothing is handed over after an unheard row
        self.unheard = 0  # PUBACKs that said nobody subscribed
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._drain_loop, name="mqtt-outbox", daemon=True)
        self.client = self._make_client()
        outbox.notify = self._wake.set

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"facefleet-edge-{self.device_id}", protocol=mqtt.MQTTv5
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password)
        if cfg.tls is not None:  # CERT_REQUIRED and a host name check: a broker we cannot verify is refused
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file),
                certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
            )
        will = self._status_payload("offline")
        client.will_set(self.topics.status(self.device_id), will, qos=1, retain=True)
        client.reconnect_delay_set(int(max(cfg.reconnect_min_s, 1)), int(max(cfg.reconnect_max_s, 1)))
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Call `handler(topic, payload)` (in paho's thread: keep it short) for messages on `topic`."""
        self._handlers[topic] = handler
        if self.connected:
            self.client.subscribe(topic, qos=1)

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.config.session_expiry_s
        log.info("MQTT: connecting to %s:%d as %s", self.config.host, self.config.port, self.device_id)
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive_s, clean_start=False, properties=props
        )
        self.client.loop_start()
        self._sender.start()

    def stop(self, timeout_s: float = 3.0) -> None:
        """Publish `offline` ourselves (the will is not sent on a clean disconnect), then disconnect."""
        self._stop.set()
        self._wake.set()
        if self._sender.is_alive():
            self._sender.join(timeout_s)
        if self.connected:
            info = self.client.publish(
                self.topics.status(self.device_id), self._status_payload("offline"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.warning("MQTT: offline status not confirmed: %s", exc)
        self.client.disconnect()
        self.client.loop_stop()
        log.info("MQTT: disconnected")

    def update_status(self, fields: dict[str, str]) -> None:
        """New model or gallery versions: republish the retained `online` status with them."""
        self.status = self.status.model_copy(update=fields)
        if self.connected:
            self.client.publish(self.topics.status(self.device_id), self._status_payload("online"), qos=1, retain=True)

    def publish_now(self, topic: str, model: BaseModel, retain: bool = False) -> bool:
        """Best-effort publish outside the outbox (status, stats, update states); False when offline."""
        if not self.connected:
            return False
        self.client.publish(topic, model.model_dump_json().encode(), qos=1, retain=retain)
        return True

    def _status_payload(self, state: str) -> bytes:
        status = self.status.model_copy(update={"state": state, "ts": datetime.now(timezone.utc)})
        return status.model_dump_json().encode()

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.connected = False
            log.error("MQTT: broker refused the connection: %s", reason_code)
            return
        self.connected = True
        self.connects += 1
        self._failed_connects = 0
        log.info("MQTT: connected (session present: %s)", flags.session_present)
        client.publish(self.topics.status(self.device_id), self._status_payload("online"), qos=1, retain=True)
        for topic in self._handlers:
            client.subscribe(topic, qos=1)
        self._wake.set()

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        self._failed_connects += 1
        if self._failed_connects <= 3 or self._failed_connects % 10 == 0:
            hint = (
                " (or its TLS certificate is not from mqtt.tls.ca_file, or does not name the host)"
                if self.config.tls is not None
                else ""
            )
            log.warning(
                "MQTT: cannot reach %s:%d%s (attempt %d); retrying with backoff",
                self.config.host,
                self.config.port,
                hint,
                self._failed_connects,
            )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was = self.connected
        self.connected = False
        if was and not self._stop.is_set():
            log.warning("MQTT: connection lost (%s); reconnecting with backoff", reason_code)

    def _on_publish(
        self, client: mqtt.Client, userdata: object, mid: int, reason_code: ReasonCode, properties: Properties | None
    ) -> None:
        # Only queue it: paho holds its own locks here, the sender thread does the SQLite work.
        outcome: AckOutcome = "delivered"
        if reason_code.is_failure:
            outcome = "refused"
        elif reason_code.value == NO_MATCHING_SUBSCRIBERS:
            outcome = "unheard"
        self._acks.put((mid, outcome))
        self._wake.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        handler = self._handlers.get(message.topic)
        if handler is None:
            return
        try:
            handler(message.topic, bytes(message.payload))
        except Exception:  # a bad message must not kill paho's network thread
            log.exception("MQTT: handling a message on %s failed", message.topic)

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            try:
                self._take_acks()
                if self.connected:
                    self._hand_over()
            except Exception:  # the sender must outlive any one bad row or SQLite hiccup
                log.exception("MQTT: outbox sender error")

    def _take_acks(self) -> None:
        while True:
            try:
                mid, outcome = self._acks.get_nowait()
            except queue.Empty:
                return
            seq = self._inflight.pop(mid, None)
            if seq is None:
                continue  # status or stats message
            if outcome == "delivered":
                self.outbox.ack(seq)
                self._unheard_backoff_s = 0.0
            elif outcome == "unheard":
                self._unheard(seq)
            else:
                self._refused(seq)

    def _unheard(self, seq: int) -> None:
        """Nobody subscribed (the hub's session is gone): keep the row and send it again after a backoff."""
        self.unheard += 1
        self._handed_seq = min(self._handed_seq, seq - 1)
        if time.monotonic() < self._resend_at:
            return  # one backoff step for the rows that were in flight together
        cfg = self.config
        self._unheard_backoff_s = min(max(self._unheard_backoff_s * 2, cfg.reconnect_min_s), cfg.reconnect_max_s)
        self._resend_at = time.monotonic() + self._unheard_backoff_s
        log.warning(
            "MQTT: no subscriber got seq %d (is the hub away?); it stays in the outbox, resent in %.0f s",
            seq,
            self._unheard_backoff_s,
        )

    def _refused(self, seq: int) -> None:
        self._refusals[seq] = self._refusals.get(seq, 0) + 1
        if self._refusals[seq] >= _MAX_REFUSALS:  # e.g. an ACL: retrying forever would not help
            log.error("MQTT: broker refused seq %d %d times; dropping it", seq, _MAX_REFUSALS)
            self.outbox.drop(seq)
            del self._refusals[seq]
        else:
            log.warning("MQTT: broker refused seq %d; it stays in the outbox", seq)
            self._handed_seq = min(self._handed_seq, seq - 1)

    def _hand_over(self) -> None:
        room = self.config.max_inflight - len(self._inflight)
        if room <= 0 or time.monotonic() < self._resend_at:
            return
        handed = set(self._inflight.values())
        for row in self.outbox.pending(after_seq=self._handed_seq, limit=room):
            if row.seq in handed:
                continue
            info = self.client.publish(row.topic, row.payload, qos=1)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                log.warning("MQTT: publish of seq %d failed (%s); will retry", row.seq, info.rc)
                return
            # NO_CONN: paho queued it and sends it after the reconnect, so it counts as handed over.
            self._inflight[info.mid] = row.seq
            self._handed_seq = row.seq
