"""`facefleet-edge` command: run the agent, check a config, stream to a hub. Thin shell over the library."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from edge.config import ConfigError, load_config
from facefleet.command import add_log_flags, run_command

log = logging.getLogger("edge")


def _run(args: argparse.Namespace) -> int:
    import cv2

    from edge.app import EdgeApp

    config = load_config(args.config)
    # Lost cameras are logged by the agent, once and with backoff; OpenCV's own stderr lines only add noise.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    EdgeApp(config).run_until_stopped(stop)
    return 0


def _check_config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: ok (device {config.device_id}, {len(config.cameras)} camera(s))")
    return 0


def _stream(args: argparse.Namespace) -> int:
    from edge.stream_client import StreamClient, run_stream, source_frames
    from facefleet.stream import EventMessage, FrameResult

    token = args.token or os.environ.get("FACEFLEET_DEVICE_TOKEN", "")
    if not token:
        print("facefleet-edge stream: give --token or set FACEFLEET_DEVICE_TOKEN", file=sys.stderr)
        return 2
    client = StreamClient(args.hub, token, args.camera, args.device)
    ready = client.connect()
    print(f"streaming as {ready.device_id}/{ready.camera}; hub model {ready.model_id}, gallery {ready.gallery_version}")

    def show(reply: object) -> None:
        if isinstance(reply, EventMessage):
            e = reply.event
            print(f"{e.camera} track {e.track_id} {e.type}: {e.name or e.person_id or 'unknown'} ({e.confidence:.2f})")
        elif isinstance(reply, FrameResult) and args.verbose:
            print(f"frame {reply.frame}: " + ", ".join(f"{f.track_id}:{f.name or '?'}" for f in reply.faces))

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run = run_stream(client, source_frames(args.source), show, stop)
    print(f"sent {run.sent} frames, {run.processed} processed, {run.dropped} dropped, {run.events} events")
    if run.closed is not None:
        print(f"facefleet-edge stream: {run.closed}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facefleet-edge", description=__doc__)
    add_log_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the agent until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, required=True, help="YAML config (see edge/README.md)")
    run.set_defaults(func=_run)
    check = commands.add_parser("check-config", help="validate a config file and exit")
    check.add_argument("--config", type=Path, required=True)
    check.set_defaults(func=_check_config)
    stream = commands.add_parser(
        "stream",
        help="a thin camera: send a source's frames to the hub, which "
        "recognises them and publishes the events as this device's",
    )
    stream.add_argument("--hub", required=True, help="the hub's URL, e.g. https://hub.local:8443")
    stream.add_argument("--token", default="", help="device token (default: $FACEFLEET_DEVICE_TOKEN)")
    stream.add_argument(
        "--source", required=True, help="video file (sent at its frame rate), camera index (0) or rtsp:// URL"
    )
    stream.add_argument("--camera", default="cam0", help="camera name in the events")
    stream.add_argument("--device", default=None, help="device id to stream as (only with an admin token)")
    stream.set_defaults(func=_stream)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), argv, refused=(ConfigError,))


if __name__ == "__main__":
    sys.exit(main())
