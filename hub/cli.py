"""`facefleet-hub` command: serve the hub, manage tokens. Each command is a thin shell over the library."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hub.pg_pool import StoreUnavailable
from hub.settings import HubSettings, SearchConfig, load_settings

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from hub.tokens import TokenStore


def _settings(args: argparse.Namespace) -> HubSettings:
    return load_settings(args.config) if args.config else HubSettings()


def server_config(app: FastAPI, settings: HubSettings, log_level: str = "info") -> uvicorn.Config:
    """How uvicorn serves the hub: its address and, with `tls` set, HTTPS with that certificate."""
    import ssl

    import uvicorn

    tls = settings.tls
    client_ca = tls.client_ca_file if tls else None
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
        ssl_ca_certs=str(client_ca) if client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if client_ca else ssl.CERT_NONE,
        # a stream frame up to twice the bound is read and refused by `hub.streams` (1009, with its reason);
        # a bigger one is cut off as it arrives, never buffered whole
        ws_max_size=2 * settings.stream.max_frame_bytes,
    )


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from hub.app import create_app

    settings = _settings(args)
    uvicorn.Server(server_config(create_app(settings), settings, args.log_level.lower())).run()
    return 0


def _token_store(args: argparse.Namespace) -> TokenStore:
    from hub.db import HubDb
    from hub.tokens import TokenStore

    settings = _settings(args)
    hub_db = HubDb(settings.database_target, settings.database.connect_timeout_s)
    hub_db.migrate()
    return TokenStore(hub_db)


def _migrate(args: argparse.Namespace) -> int:
    """The SQLite library of the config's data_dir into PostgreSQL (`hub.store_move`): stop the hub first."""
    from hub.store_move import move_library

    settings = _settings(args)
    report = move_library(settings.data_dir / "hub.sqlite", args.to, args.replace, settings.database.connect_timeout_s)
    sys.stdout.write("".join(line + "\n" for line in report.lines()))
    sys.stderr.write(f"files stay in {settings.data_dir}; serve from PostgreSQL with database.url set to the target "
                     "(or FACEFLEET_HUB_DATABASE_URL) and the same data_dir\n")
    return 0


def _token_create(args: argparse.Namespace) -> int:
    info, secret = _token_store(args).create(args.name, args.scope, args.device)
    bound = f", device {info.device_id}" if info.device_id else ""
    sys.stdout.write(f"{secret}\n")
    sys.stderr.write(
        f"token {info.id} ({info.name}, scopes {' '.join(sorted(info.scopes))}{bound}); shown once\n"
    )
    return 0


def _token_list(args: argparse.Namespace) -> int:
    for token in _token_store(args).issued():
        state = "revoked" if token.revoked else "active"
        scopes, device = " ".join(token.scopes), token.device_id or "-"
        sys.stdout.write(f"{token.id}\t{token.name}\t{scopes}\t{device}\t{token.created}\t{state}\n")
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    if not _token_store(args).revoke(args.id):
        sys.stderr.write(f"no token {args.id}\n")
        return 1
    return 0


def _bench(args: argparse.Namespace) -> int:
    import dataclasses
    import json
    import tempfile

    if "ann" in args.what:
        if len(args.what) > 1:
            raise SystemExit("bench: `ann` runs alone")
        return _bench_ann(args)
    if "streams" in args.what:
        if len(args.what) > 1:
            raise SystemExit("bench: `streams` runs alone")
        return _bench_streams(args)

    from facefleet.sim.procs import Processes
    from hub.bench.enroll import run_bench
    from hub.bench.uploads import run_upload_bench

    report: dict[str, object] = {}
    if "enroll" in args.what:
        figures = run_bench(args.data, people=args.people, per_person=args.per_person)
        report["enroll"] = dataclasses.asdict(figures)
        sys.stdout.write("".join(line + "\n" for line in figures.lines()))
    if "uploads" in args.what:
        with tempfile.TemporaryDirectory() as tmp:
            procs = Processes(Path(tmp) / "logs")
            try:
                uploads = run_upload_bench(procs, Path(tmp), args.data)
            finally:
                procs.stop_all()
        report["uploads"] = dataclasses.asdict(uploads)
        sys.stdout.write("".join(line + "\n" for line in uploads.lines()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def _bench_streams(args: argparse.Namespace) -> int:
    import tempfile

    from facefleet.sim.procs import Processes
    from hub.bench.streams import run_streams_bench

    counts = [int(n) for n in args.streams.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(Path(tmp) / "logs")
        try:
            figures = run_streams_bench(procs, Path(tmp), args.data, counts, args.seconds)
        finally:
            procs.stop_all()
    sys.stdout.write("".join(line + "\n" for line in figures.lines()))
    if args.json:
        args.json.write_text(figures.to_json())
    return 0


def _bench_ann(args: argparse.Namespace) -> int:
    import json

    from hub.bench.ann import lfw_embeddings, run_ann_bench
    from hub.settings import SearchConfig

    sizes = tuple(int(n) for n in args.sizes.split(","))
    lfw = None if args.no_lfw else lfw_embeddings(args.data / "lfw", args.lfw_people)
    nprobes = tuple(int(n) for n in args.nprobe.split(","))
    config = SearchConfig(nprobe=nprobes[0], cells_per_sqrt=args.cells_per_sqrt)
    report = run_ann_bench(sizes, args.queries, lfw, config, nprobes)
    for line in report.lines():
        sys.stdout.write(line + "\n")
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2))
    return 0


def _tls_issue(args: argparse.Namespace) -> int:
    """A certificate for the hub's LAN names or addresses, signed by the CA kept in `--dir` (made there the
    first time): browsers open the camera only on HTTPS pages (or localhost), so a phone needs this."""
    import datetime

    from facefleet.sim.localca import LocalCa

    ca = LocalCa(args.dir, "ca", keep=True, valid=datetime.timedelta(days=args.days))
    files = ca.issue("hub", tuple(args.host))
    sys.stdout.write(f"hub certificate for {', '.join(args.host)}: {files.cert} (key {files.key})\n"
                     f"in hub.yaml:\n  tls:\n    cert_file: {files.cert}\n    key_file: {files.key}\n"
                     f"install {ca.cert_file} once on each phone or laptop as a trusted CA; keep {ca.files.key} "
                     f"private (it signs certificates those devices will trust)\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hub.tokens import SCOPES

    parser = argparse.ArgumentParser(
        prog="facefleet-hub", description="FaceFleet hub: enrollment and rollouts"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API, the web page and the MQTT link")
    serve.add_argument("--config", type=Path, help="hub.yaml (see hub/README.md)")
    serve.set_defaults(func=_serve)
    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create a token and print it once")
    create.add_argument("--scope", action="append", required=True, choices=SCOPES, help="repeat for several")
    create.add_argument("--name", default="cli")
    create.add_argument("--device", help="device id a device-scope token is bound to (required for --scope device)")
    create.add_argument("--config", type=Path)
    create.set_defaults(func=_token_create)
    listing = token.add_parser("list", help="list tokens (never their secrets)")
    listing.add_argument("--config", type=Path)
    listing.set_defaults(func=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id")
    revoke.add_argument("--config", type=Path)
    revoke.set_defaults(func=_token_revoke)
    migrate = commands.add_parser("migrate", help="copy the SQLite library of the config's data_dir into an empty "
                                  "PostgreSQL database and verify every table (row counts and digests)")
    migrate.add_argument("--to", required=True, metavar="postgresql://USER@HOST:PORT/DATABASE",
                         help="the target database (password from PGPASSWORD or ~/.pgpass)")
    migrate.add_argument("--config", type=Path, help="hub.yaml: its data_dir holds hub.sqlite")
    migrate.add_argument("--replace", action="store_true", help="empty a target that holds rows first (else refused)")
    migrate.set_defaults(func=_migrate)
    tls = commands.add_parser("tls", help="certificates for HTTPS on a LAN").add_subparsers(
        dest="tls_command", required=True
    )
    issue = tls.add_parser("issue", help="a hub certificate for LAN names or addresses, signed by a CA kept in --dir")
    issue.add_argument("--host", action="append", required=True, help="a DNS name or IP address; repeat for several")
    issue.add_argument("--dir", type=Path, default=Path("hub-tls"), help="where the CA and the certificate live")
    issue.add_argument("--days", type=int, default=825, help="validity of the certificates made (days)")
    issue.set_defaults(func=_tls_issue)
    bench = commands.add_parser("bench", help="`enroll`: enrollment (HTTP) and a gallery build of many LFW "
                                "people; `uploads`: hub peak RSS under hostile uploads and search latency behind "
                                "a long enrollment (a hub process); `ann`: the 1:N index at 10k/100k/1M "
                                "identities (alone); `streams`: 1, 4, 8 thin cameras streaming a clip to a hub "
                                "process (alone)")
    bench.add_argument("what", nargs="*", choices=["enroll", "uploads", "ann", "streams"],
                       default=["enroll", "uploads"])
    bench.add_argument("--data", type=Path, default=Path("../shared/data"), help="the data set folder")
    bench.add_argument("--people", type=int, default=1000, help="enroll: LFW people enrolled")
    bench.add_argument("--per-person", type=int, default=2, help="enroll: LFW photos enrolled per person")
    bench.add_argument("--sizes", default="10000,100000,1000000", help="ann: identities, comma-separated")
    bench.add_argument("--queries", type=int, default=200, help="ann: timed queries per index")
    bench.add_argument("--nprobe", default=str(SearchConfig().nprobe),
                       help="ann: IVF cells scanned per query, comma-separated to compare several")
    bench.add_argument("--cells-per-sqrt", type=float, default=SearchConfig().cells_per_sqrt,
                       help="ann: IVF cells per sqrt(identities)")
    bench.add_argument("--no-lfw", action="store_true", help="ann: random vectors only (no LFW embedding)")
    bench.add_argument("--lfw-people", type=int, help="ann: only the first N LFW gallery people")
    bench.add_argument("--streams", default="1,4,8", help="streams: concurrent thin cameras per run, comma-separated")
    bench.add_argument("--seconds", type=float, default=20.0, help="streams: seconds each run streams the clip")
    bench.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ValueError, OSError, StoreUnavailable) as exc:  # bad config, secrets, no database: say so plainly
        sys.stderr.write(f"facefleet-hub: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
