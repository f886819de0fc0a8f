"""A real PostgreSQL server for the tests: initdb into a temporary folder, started on a free port.

PostgreSQL refuses to run as root; started by root, the server runs as `nobody` (its folder is handed to
that user). Durability is off (`fsync`, `synchronous_commit`): the server is thrown away after the run.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import free_port

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
USER = "facefleet"


def postgres_bin(name: str) -> str:
    """An executable of the newest installed PostgreSQL (Debian keeps them outside PATH)."""
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (scripts/setup.sh installs `postgresql`)")
    return found


class PostgresServer:
    """One server for the session; `new_database()` gives each test an empty database of its own."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="facefleet-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self._names = itertools.count()
        self._as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.workdir, "nobody")

    def start(self) -> None:
        self._run(postgres_bin("initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C")
        self.start_server()

    def start_server(self) -> None:
        """Start the server on its folder and port; returns once it accepts connections (`pg_ctl -w`)."""
        options = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            postgres_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.workdir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop_server(self) -> None:
        """Stop as an operator's restart does (`-m fast`: sessions cut, open transactions rolled back, what
        was committed kept); the folder stays for `start_server`."""
        self._run(postgres_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        self.stop_server()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """CREATE an empty database (C collation, as SQLite orders text) and return its URL."""
        import psycopg

        name = f"hub_test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def _run(self, *command: str) -> None:
        subprocess.run([*self._as_user, *command], check=True, capture_output=True, cwd=self.workdir)
