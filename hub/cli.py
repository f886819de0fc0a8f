"""`facefleet-hub` command: serve the hub, manage tokens. Each command is a thin shell over the library."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from facefleet.command import add_log_flags, log_level, run_command
from hub.pg_pool import StoreUnavailable
from hub.settings import HubSettings, load_settings

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
    uvicorn.Server(server_config(create_app(settings), settings, log_level(args).lower())).run()
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
    sys.stderr.write(
        f"files stay in {settings.data_dir}; serve from PostgreSQL with database.url set to the target "
        "(or FACEFLEET_HUB_DATABASE_URL) and the same data_dir\n"
    )
    return 0


def _token_create(args: argparse.Namespace) -> int:
    info, secret = _token_store(args).create(args.name, args.scope, args.device)
    bound = f", device {info.device_id}" if info.device_id else ""
    sys.stdout.write(f"{secret}\n")
    sys.stderr.write(f"token {info.id} ({info.name}, scopes {' '.join(sorted(info.scopes))}{bound}); shown once\n")
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


def _tls_issue(args: argparse.Namespace) -> int:
    """A certificate for the hub's LAN names or addresses, signed by the CA kept in `--dir` (made there the
    first time): browsers open the camera only on HTTPS pages (or localhost), so a phone needs this."""
    import datetime

    from hub.localca import LocalCa

    ca = LocalCa(args.dir, "ca", keep=True, valid=datetime.timedelta(days=args.days))
    files = ca.issue("hub", tuple(args.host))
    sys.stdout.write(
        f"hub certificate for {', '.join(args.host)}: {files.cert} (key {files.key})\n"
        f"in hub.yaml:\n  tls:\n    cert_file: {files.cert}\n    key_file: {files.key}\n"
        f"install {ca.cert_file} once on each phone or laptop as a trusted CA; keep {ca.files.key} "
        f"private (it signs certificates those devices will trust)\n"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hub.tokens import SCOPES

    parser = argparse.ArgumentParser(prog="facefleet-hub", description="FaceFleet hub: enrollment and rollouts")
    add_log_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP API, the web page and the MQTT link")
    serve.add_argument("--config", type=Path, help="hub.yaml (see hub/README.md)")
    serve.set_defaults(func=_serve)
    token = commands.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
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
    migrate = commands.add_parser(
        "migrate",
        help="copy the SQLite library of the config's data_dir into an empty "
        "PostgreSQL database and verify every table (row counts and digests)",
    )
    migrate.add_argument(
        "--to",
        required=True,
        metavar="postgresql://USER@HOST:PORT/DATABASE",
        help="the target database (password from PGPASSWORD or ~/.pgpass)",
    )
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
    return parser


def main(argv: list[str] | None = None) -> int:
    # bad config or secrets, no database: said plainly, status 2
    return run_command(build_parser(), argv, refused=(ValueError, OSError, StoreUnavailable))


if __name__ == "__main__":
    sys.exit(main())
