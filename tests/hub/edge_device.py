"""Devices for the hub's fleet tests: the edge agent's own hub side (`edge.hub_link.HubLink`), no cameras.

Each device is the agent's outbox, MQTT link (retained `online` status, `offline` last will, the updates
topic) and real `Updater` (its `ArtifactFetcher` with the device's own token, slots, rollback floor and
health checks), built from an `EdgeConfig` of its own. The devices of a test share one `FacePipeline`, so
applying a gallery costs a health check, not a model load; staging a model builds its pipeline as a
device does. A device that must fail fails for a reason the agent really checks: a download limit below
the artifact's size, or a model whose embeddings the health check refuses (`with_wiped_weights`).

Test behaviours over the real link: `silent` records announcements without handling them (until
`answer`), and `vanish` drops the TCP connection without DISCONNECT, so the broker publishes the will.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx
import paho.mqtt.client as mqtt
from onnx import numpy_helper

from edge.config import EdgeConfig
from edge.hub_link import HubLink
from edge.ops.metrics import EdgeMetrics
from edge.recognize.model_gallery import ModelGallery, ModelGalleryHolder
from facefleet.gallery import Gallery
from facefleet.wire import UpdateAnnouncement
from models.pipeline import FacePipeline, PipelineConfig
from tests.hub.conftest import HubServer


class EdgeDevice:
    """One device on the test broker, online once the constructor returns; `stop` ends it."""

    def __init__(
        self,
        device_id: str,
        hub: HubServer,
        port: int,
        pipeline: FacePipeline,
        root: Path,
        group: str = "default",
        password: str | None = None,
        silent: bool = False,
        max_artifact_bytes: int | None = None,
    ) -> None:
        """pipeline: the model it runs (its `model_id` goes in the status); root: where its state dir goes;
        password: for a broker with passwords (the user name is the device id)."""
        self.device_id = device_id
        self.silent = silent
        self.announcements: list[UpdateAnnouncement] = []
        state_dir = root / device_id
        state_dir.mkdir(parents=True)
        (state_dir / "hub.pub").write_bytes(hub.hub.artifacts.public_key_pem)
        env = f"FACEFLEET_TEST_{device_id.upper().replace('-', '_')}"
        secrets = {f"{env}_TOKEN": hub.device_token(device_id)} | ({f"{env}_PASSWORD": password} if password else {})
        config = device_config(
            device_id, group, state_dir, hub.url, port, env, password is not None, max_artifact_bytes
        )
        holder = ModelGalleryHolder(ModelGallery(pipeline, Gallery.empty(pipeline.model_id, pipeline.embedder.dim)))
        with environment(secrets):  # read once, when the link and the fetcher are made
            self.hub_link = HubLink(config, holder, EdgeMetrics())
        self.holder = holder
        self.updates_topic = self.hub_link.topics.updates(device_id)
        # Instead of the updater's own handler: record each announcement, then hand it to the updater.
        self.hub_link.link.subscribe(self.updates_topic, self._on_announcement)
        self.hub_link.start()
        wait_until(lambda: self.hub_link.link.connected, f"{device_id} to connect")

    @property
    def gallery_version(self) -> str:
        return self.holder.current.gallery.version

    @property
    def client(self) -> mqtt.Client:
        """The link's paho client (to publish as this device on its own topics)."""
        return self.hub_link.link.client

    def _on_announcement(self, topic: str, payload: bytes) -> None:
        self.announcements.append(UpdateAnnouncement.model_validate_json(payload))
        if not self.silent:
            self.answer(self.announcements[-1])

    def answer(self, announcement: UpdateAnnouncement) -> None:
        """Hand an announcement to the updater, as the link does for a device that is not silent."""
        assert self.hub_link.updater is not None
        self.hub_link.updater.on_message(self.updates_topic, announcement.model_dump_json().encode())

    def vanish(self) -> None:
        """A power cut: the connection drops without DISCONNECT (the broker publishes the will), and nothing
        is sent any more; `stop` then ends the threads without a word on the network."""
        client = self.client
        sock = client.socket()
        client.loop_stop()
        if sock is not None:
            sock.close()
        self.hub_link.link.connected = False

    def stop(self) -> None:
        self.hub_link.stop()


def device_config(
    device_id: str,
    group: str,
    state_dir: Path,
    hub_url: str,
    port: int,
    env: str,
    with_password: bool,
    max_artifact_bytes: int | None,
) -> EdgeConfig:
    """An agent's config on the test broker and hub: quick reconnects, secrets in `<env>_TOKEN` and
    `<env>_PASSWORD`; one camera, `cam0`, that is named in the status and never opened."""
    broker: dict[str, object] = {"host": "127.0.0.1", "port": port, "reconnect_min_s": 1, "reconnect_max_s": 2}
    if with_password:
        broker |= {"username": device_id, "password_env": f"{env}_PASSWORD"}
    updates: dict[str, object] = {
        "hub_public_key": str(state_dir / "hub.pub"),
        "hub_url": hub_url,
        "token_env": f"{env}_TOKEN",
    }
    if max_artifact_bytes is not None:
        updates["max_artifact_bytes"] = max_artifact_bytes
    return EdgeConfig.model_validate(
        {
            "device_id": device_id,
            "group": group,
            "state_dir": str(state_dir),
            "mqtt": broker,
            "updates": updates,
            "cameras": [{"name": "cam0", "source": {"type": "file", "path": str(state_dir / "cam0.mp4")}}],
        }
    )


def running_as(pipeline: FacePipeline, model_id: str) -> FacePipeline:
    """The same nets under another model id: what a device runs after the hub pushed it that network as
    model `model_id` (the hub's `sface-copy` is sface.onnx itself)."""
    return FacePipeline(pipeline.detector, pipeline.embedder, model_id, pipeline.model_paths)


def with_wiped_weights(pipeline: FacePipeline, folder: Path) -> FacePipeline:
    """`pipeline` with an embedder file that lost its weights (every float tensor zero, as on a damaged
    disk): it loads and runs, but every embedding is the zero vector, which the health check refuses."""
    model = onnx.load(pipeline.model_paths[pipeline.model_id])
    for tensor in model.graph.initializer:
        weights = numpy_helper.to_array(tensor)
        if weights.dtype.kind == "f":
            tensor.CopyFrom(numpy_helper.from_array(np.zeros_like(weights), tensor.name))
    path = folder / "sface-wiped.onnx"
    onnx.save(model, path)
    return FacePipeline.from_config(PipelineConfig(), model_path=path)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, then restore what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def wait_until(predicate: Callable[[], object], what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
