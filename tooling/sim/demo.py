"""`facefleet demo`: the whole system on the bundled data, as real processes on this machine.

Mosquitto, the hub and two edge agents run as separate processes, talking MQTT and HTTP over loopback
exactly as they would across a site: the broker runs the shipped config (passwords, ACL, client ids tied
to user names), the agents reach it over TLS (a throwaway CA made at start) with their own passwords, and
each agent downloads with a token bound to its device id. People are enrolled through the hub's web API,
a gallery is built and rolled out (the first agent as canary), the agents play the real clip as their
cameras, and every MQTT track event is printed as it arrives. Ctrl-C (or `--duration`) stops everything
in reverse order; with `--screenshots DIR`, each view of the hub's page is first saved there as PNGs at a
desktop and a phone width (`tooling.screenshots`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from facefleet.wire import Topics, TrackEvent
from tooling.sim import procs as system
from tooling.sim.broker import MONITOR_USER, prepare_broker
from tooling.sim.procs import Processes, free_port, wait_for

log = logging.getLogger("tooling.sim.demo")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def people_photos(people_dir: Path) -> dict[str, list[Path]]:
    """One folder per person, named after them, holding their photos."""
    people = {
        d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(people_dir.iterdir())
        if d.is_dir()
    }
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise ValueError(f"no people found in {people_dir} (expected one folder of photos per person)")
    return people


# The pianist's face in the clip's wide stage shot is 24 px: the detector reports no smaller face than this.
DEMO_MIN_FACE_PX = 20


class Demo:
    def __init__(self, workdir: Path, data_dir: Path, people_dir: Path, agents: int = 2) -> None:
        self.workdir = workdir
        self.data_dir = data_dir
        self.people_dir = people_dir
        self.agents = [f"edge-{i + 1}" for i in range(agents)]
        # Every frame of the clip is processed, as fast as the CPU allows: several agents sharing a small
        # CPU at "realtime" pacing would drop most frames of the short scenes in which people appear.
        self.pacing = "every_frame"
        self.clip = data_dir / "clips" / "short_hamilton_clip.mp4"
        self.procs = Processes(workdir / "logs")
        self.broker = prepare_broker(workdir, self.agents, free_port(), free_port())
        self.hub_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.admin_token = secrets.token_urlsafe(32)
        self.topics = Topics("facefleet")

    def run(self, stop: threading.Event, duration_s: float | None, screenshots_dir: Path | None = None) -> None:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_broker()
            api = self._start_hub()
            self._enroll(api)
            print("building and signing the gallery ...", flush=True)
            version = api.post("/api/galleries", timeout=300).raise_for_status().json()["version"]
            print(f"gallery {version} built and signed", flush=True)
            listener = self._listen()
            self._start_agents()
            self._roll_out(api, version)
            print(
                f"live: events below; live view on the web page {self.hub_url}/ (admin token: "
                f"{self.admin_token}); Ctrl-C ends",
                flush=True,
            )
            deadline = None if duration_s is None else time.monotonic() + duration_s
            while not stop.wait(1.0):
                self.procs.check_alive()
                if deadline is not None and time.monotonic() > deadline:
                    break
            if screenshots_dir is not None:
                self._screenshots(screenshots_dir)
            listener.loop_stop()
            listener.disconnect()
        finally:
            self.procs.stop_all()

    def _start_broker(self) -> None:
        system.start_broker(self.procs, self.broker)

    def _start_hub(self) -> httpx.Client:
        config = system.write_hub_config(self.workdir / "hub.yaml", self.workdir / "hub", self.hub_port, self.broker)
        api = system.start_hub(self.procs, config, self.hub_port, self.admin_token, self.broker)
        print(f"hub up at {self.hub_url}", flush=True)
        return api

    def _enroll(self, api: httpx.Client) -> None:
        people = people_photos(self.people_dir)
        for name, photos in tqdm(people.items(), desc="enrolling", unit="person"):
            files = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in photos]
            answer = api.post("/api/samples/photos", data={"label": name}, files=files)
            if answer.status_code >= 400:
                print(f"  {name}: refused ({answer.status_code}): {answer.json().get('detail')}", flush=True)
                continue
            body = answer.json()
            rejected = {k: v for k, v in body.get("rejected", {}).items() if v}
            tqdm.write(
                f"  {name}: {body['faces_extracted']} sample(s) from {len(photos)} photo(s)"
                + (f", rejected {rejected}" if rejected else "")
            )

    def _start_agents(self) -> None:
        for device_id in self.agents:
            token = system.create_token(
                self.workdir / "hub.yaml", self.admin_token, self.broker, "device", f"demo-{device_id}", device_id
            )
            config = system.write_agent_config(
                self.workdir / f"{device_id}.yaml",
                device_id,
                self.workdir / device_id,
                self.clip,
                self.broker,
                self.workdir / "hub" / "keys" / "hub.pub",
                self.hub_url,
                pacing=self.pacing,
                min_face_px=DEMO_MIN_FACE_PX,
            )
            system.start_agent(self.procs, device_id, config, self.broker, token)

    def _roll_out(self, api: httpx.Client, version: str) -> None:
        def online() -> bool:
            states = {d["id"]: d["state"] for d in api.get("/api/devices").json()}
            return all(states.get(d) == "online" for d in self.agents)

        wait_for(online, "the agents to come online", 180)
        started = time.monotonic()
        rollout = (
            api.post(
                "/api/rollouts",
                json={"kind": "gallery", "version": version, "devices": self.agents, "canaries": self.agents[:1]},
            )
            .raise_for_status()
            .json()
        )
        print(f"rollout {rollout['id']}: gallery {version} to {self.agents}, canary {self.agents[0]}", flush=True)

        def finished() -> bool:
            state = api.get(f"/api/rollouts/{rollout['id']}").json()
            self.procs.check_alive()
            if state["state"] == "halted":
                raise RuntimeError(f"rollout halted: {state['detail']}")
            return bool(state["state"].startswith("completed"))

        wait_for(finished, "the rollout", 300)
        state = api.get(f"/api/rollouts/{rollout['id']}").json()
        devices = ", ".join(f"{d['device_id']}={d['state']}" for d in state["devices"])
        print(f"rollout {state['state']} in {time.monotonic() - started:.1f} s: {devices}", flush=True)

    def _screenshots(self, out_dir: Path) -> None:
        from tooling.screenshots import take_screenshots

        print(f"taking screenshots of the hub's page into {out_dir} ...", flush=True)
        shots = take_screenshots(self.hub_url, self.admin_token, out_dir)
        print(f"{len(shots)} screenshots written to {out_dir}", flush=True)

    def _listen(self) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"demo-listener-{os.getpid()}")
        seen: set[str] = set()

        def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
            try:
                event = TrackEvent.model_validate_json(message.payload)
            except ValueError:
                print(f"(malformed event on {message.topic})", flush=True)
                return
            if event.event_id in seen:
                return  # QoS 1 is at least once: drop repeats by id
            seen.add(event.event_id)
            print(format_event(event), flush=True)

        client.on_message = on_message
        client.username_pw_set(MONITOR_USER, self.broker.passwords[MONITOR_USER])
        client.connect("127.0.0.1", self.broker.plain_port)
        client.subscribe(self.topics.all_of("events"), qos=1)
        client.loop_start()
        return client


def format_event(event: TrackEvent) -> str:
    who = event.name or ("unknown" if event.type != "track_started" else "?")
    line = (
        f"{event.ts:%H:%M:%S} {event.device_id}/{event.camera} track {event.track_id:<3d} "
        f"{event.type:<18s} {who:<16s} conf {event.confidence:.2f}"
    )
    if event.liveness is not None:
        line += f" liveness {event.liveness:.2f}"
    if event.type == "track_ended":
        line += f" after {event.duration_s or 0:.1f} s, votes {json.dumps(event.votes)}"
    return line


def run_demo(
    workdir: Path,
    data_dir: Path,
    people_dir: Path | None,
    duration_s: float | None,
    agents: int = 2,
    screenshots_dir: Path | None = None,
) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        print("\nstopping ...", flush=True)
        stop.set()
        # Further signals must not interrupt the orderly shutdown; the first one interrupts whatever step runs.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workdir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll drowns the events
    try:
        Demo(workdir, data_dir, people_dir or data_dir / "clips" / "people", agents).run(
            stop, duration_s, screenshots_dir
        )
    except KeyboardInterrupt:
        pass
    print(f"demo stopped cleanly (logs in {workdir / 'logs'})", flush=True)
    return 0
