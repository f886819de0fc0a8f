"""`facefleet demo`: the whole system on the bundled data, as real processes on this machine.

Mosquitto, the hub and two edge agents run as separate processes, talking MQTT and HTTP over loopback
exactly as they would across a site. People are enrolled through the hub's web API, a gallery is built
and rolled out (the first agent as canary), the agents play the real clip as their cameras, and every
MQTT track event is printed as it arrives. Ctrl-C (or `--duration`) stops everything in reverse order.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from facefleet.wire import Topics, TrackEvent

log = logging.getLogger("facefleet.demo")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: object, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.3)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class Processes:
    """Child processes, stopped in reverse start order with SIGTERM, then SIGKILL."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child owns it until it exits
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                start_new_session=True)
        self.started.append((name, proc))
        log.info("started %s (pid %d), log %s", name, proc.pid, out.name)
        return proc

    def check_alive(self) -> None:
        for name, proc in self.started:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}")

    def stop_all(self) -> None:
        for name, proc in reversed(self.started):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.info("stopped %s (exit %s)", name, proc.returncode)
        self.started.clear()


def people_photos(people_dir: Path) -> dict[str, list[Path]]:
    """One folder per person, named after them, holding their photos."""
    people = {d.name: sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
              for d in sorted(people_dir.iterdir()) if d.is_dir()}
    people = {name: photos for name, photos in people.items() if photos}
    if not people:
        raise ValueError(f"no people found in {people_dir} (expected one folder of photos per person)")
    return people


class Demo:
    def __init__(self, workdir: Path, data_dir: Path, people_dir: Path, agents: int = 2) -> None:
        self.workdir = workdir
        self.data_dir = data_dir
        self.people_dir = people_dir
        self.agents = [f"edge-{i + 1}" for i in range(agents)]
        self.clip = data_dir / "clips" / "short_hamilton_clip.mp4"
        self.procs = Processes(workdir / "logs")
        self.mqtt_port = free_port()
        self.hub_port = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hub_port}"
        self.admin_token = secrets.token_urlsafe(32)
        self.topics = Topics("facefleet")

    def run(self, stop: threading.Event, duration_s: float | None) -> None:
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        try:
            self._start_broker()
            api = self._start_hub()
            self._enroll(api)
            version = api.post("/api/galleries", timeout=300).raise_for_status().json()["version"]
            print(f"gallery {version} built and signed", flush=True)
            device_token = self._device_token()
            listener = self._listen()
            self._start_agents(device_token)
            self._roll_out(api, version)
            print(f"live: events below; web page {self.hub_url}/ (admin token: {self.admin_token}); Ctrl-C ends",
                  flush=True)
            deadline = None if duration_s is None else time.monotonic() + duration_s
            while not stop.wait(1.0):
                self.procs.check_alive()
                if deadline is not None and time.monotonic() > deadline:
                    break
            listener.loop_stop()
            listener.disconnect()
        finally:
            self.procs.stop_all()

    def _start_broker(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                        f"persistence_location {self.workdir}/\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.procs.start("mosquitto", [binary, "-c", str(conf)])

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", self.mqtt_port), timeout=0.5):
                return True

        wait_for(listening, "mosquitto", 15)

    def _hub_config(self) -> Path:
        path = self.workdir / "hub.yaml"
        path.write_text(yaml.safe_dump({
            "data_dir": str(self.workdir / "hub"), "host": "127.0.0.1", "port": self.hub_port,
            "public_url": self.hub_url,
            "mqtt": {"host": "127.0.0.1", "port": self.mqtt_port, "topic_prefix": "facefleet"},
            "canary_timeout_s": 120,
        }))
        return path

    def _start_hub(self) -> httpx.Client:
        config = self._hub_config()
        self.procs.start("hub", [sys.executable, "-m", "hub", "serve", "--config", str(config)],
                         env={"FACEFLEET_HUB_ADMIN_TOKEN": self.admin_token})
        wait_for(lambda: httpx.get(f"{self.hub_url}/healthz", timeout=2).status_code == 200, "the hub", 120)
        print(f"hub up at {self.hub_url}", flush=True)
        return httpx.Client(base_url=self.hub_url, headers={"Authorization": f"Bearer {self.admin_token}"},
                            timeout=120)

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
            tqdm.write(f"  {name}: {body['faces_extracted']} sample(s) from {len(photos)} photo(s)"
                       + (f", rejected {rejected}" if rejected else ""))

    def _device_token(self) -> str:
        done = subprocess.run([sys.executable, "-m", "hub", "token", "create", "--scope", "device", "--name",
                               "demo-fleet", "--config", str(self.workdir / "hub.yaml")],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "FACEFLEET_HUB_ADMIN_TOKEN": self.admin_token})
        return done.stdout.strip().splitlines()[-1].split()[-1]

    def _agent_config(self, device_id: str) -> Path:
        path = self.workdir / f"{device_id}.yaml"
        path.write_text(yaml.safe_dump({
            "device_id": device_id, "state_dir": str(self.workdir / device_id),
            "cameras": [{"name": "stage", "source": {"type": "file", "path": str(self.clip), "loop": True,
                                                     "pacing": "realtime"}}],
            "pipeline": {"detector": {"min_face_px": 30}},
            "mqtt": {"host": "127.0.0.1", "port": self.mqtt_port, "stats_every_s": 10},
            "http": {"port": 0},
            "updates": {"hub_public_key": str(self.workdir / "hub" / "keys" / "hub.pub")},
        }))
        return path

    def _start_agents(self, device_token: str) -> None:
        for device_id in self.agents:
            config = self._agent_config(device_id)
            self.procs.start(device_id, [sys.executable, "-m", "edge", "run", "--config", str(config)],
                             env={"FACEFLEET_DEVICE_TOKEN": device_token})

    def _roll_out(self, api: httpx.Client, version: str) -> None:
        def online() -> bool:
            states = {d["id"]: d["state"] for d in api.get("/api/devices").json()}
            return all(states.get(d) == "online" for d in self.agents)

        wait_for(online, "the agents to come online", 180)
        started = time.monotonic()
        rollout = api.post("/api/rollouts", json={"kind": "gallery", "version": version, "devices": self.agents,
                                                  "canaries": self.agents[:1]}).raise_for_status().json()
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
        client.connect("127.0.0.1", self.mqtt_port)
        client.subscribe(self.topics.all_of("events"), qos=1)
        client.loop_start()
        return client


def format_event(event: TrackEvent) -> str:
    who = event.name or ("unknown" if event.type != "track_started" else "?")
    line = (f"{event.ts:%H:%M:%S} {event.device_id}/{event.camera} track {event.track_id:<3d} "
            f"{event.type:<18s} {who:<16s} conf {event.confidence:.2f}")
    if event.liveness is not None:
        line += f" liveness {event.liveness:.2f}"
    if event.type == "track_ended":
        line += f" after {event.duration_s or 0:.1f} s, votes {json.dumps(event.votes)}"
    return line


def run_demo(workdir: Path, data_dir: Path, people_dir: Path | None, duration_s: float | None,
             agents: int = 2) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        print("\nstopping ...", flush=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    workdir.mkdir(parents=True, exist_ok=True)
    Demo(workdir, data_dir, people_dir or data_dir / "clips" / "people", agents).run(stop, duration_s)
    print("demo stopped cleanly", flush=True)
    return 0
