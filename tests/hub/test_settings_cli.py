"""Settings refuse unknown keys, secrets in files and default tokens; the CLI creates working tokens."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.cli import build_parser, main
from hub.db import MIGRATIONS, HubDb
from hub.library.names import skeleton
from hub.settings import HubSettings, load_settings
from hub.tokens import TokenStore
from tests.conftest import ROOT


@pytest.mark.parametrize(
    "token",
    [
        "changeme",  # a well-known default
        "admin",  # another one
        "short-but-random-x9",  # under 24 characters
    ],
)
def test_default_or_short_admin_token_refused(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("FACEFLEET_HUB_ADMIN_TOKEN", token)
    with pytest.raises(ValidationError, match="default or shorter"):
        HubSettings()


def test_the_store_is_sqlite_in_data_dir_unless_a_postgres_url_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACEFLEET_HUB_DATABASE_URL", raising=False)
    assert HubSettings(data_dir=tmp_path).database_target == tmp_path / "hub.sqlite"
    monkeypatch.setenv("FACEFLEET_HUB_DATABASE_URL", "postgresql://hub@db:5432/hub")
    assert HubSettings(data_dir=tmp_path).database_target == "postgresql://hub@db:5432/hub"


def test_admin_token_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEFLEET_HUB_ADMIN_TOKEN", "x" * 8 + "a-long-enough-random-secret")
    assert HubSettings().admin_token is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus: 1\n", "Extra inputs"),  # unknown key
        ("admin_token: abcdefabcdefabcdefabcdefabcdef\n", "environment"),  # a secret in the file
        ("mqtt: {password: abcdefabcdefabcdefabcdefabcdef}\n", "environment"),  # the MQTT secret in the file
        ("enroll: {max_video_frames: 0}\n", "greater than or equal"),  # out of bounds
        ("database: {url: 'postgresql://hub:hunter2@db/hub'}\n", "PGPASSWORD"),  # the database password
        ("database: {url: 'mysql://db/hub'}\n", "postgresql://"),  # an engine the hub does not speak
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "hub.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_settings(path)


def test_migrations_are_recorded_once(db_target: Path | str) -> None:
    hub_db = HubDb(db_target)
    names = [name for name, _ in MIGRATIONS]
    assert names == sorted(names) and [n[:3] for n in names] == [f"{i:03d}" for i in range(1, len(names) + 1)]
    assert hub_db.migrate() == names
    assert hub_db.migrate() == []


def test_later_migrations_run_over_a_database_of_the_first_six(db_target: Path | str) -> None:
    """A hub database made before deletions, name skeletons and persisted releases (migrations 001-006:
    embeddings per model, the active model) takes 007-009 and keeps its rows."""
    hub_db = HubDb(db_target)
    hub_db.db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    for name, migration in MIGRATIONS[:6]:
        with hub_db.transaction() as db:
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, '2025-01-01')", [name])
    with hub_db.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p1', 'Zoë', '2025-01-01')")
        db.execute("INSERT INTO samples VALUES ('s1', 'p1', 's1.jpg', 'photo:a.jpg', 120, 0.99, 300, 0.9, '2025')")
        db.execute("INSERT INTO sample_embeddings VALUES ('s1', 'sface', ?)", [b"\0" * 512])
        db.execute("INSERT INTO artifacts VALUES ('gallery', '20250101.0001', 'sface', 'ab', 1, '2025', 1, 1)")
    assert hub_db.migrate() == [name for name, _ in MIGRATIONS[6:]]
    with hub_db.read() as db:
        assert db.execute("SELECT name, skeleton FROM people").fetchall() == [("Zoë", skeleton("Zoë"))]
        assert db.execute("SELECT revoked FROM artifacts").fetchall() == [("",)]
        assert db.execute("SELECT sample_id, model_id FROM sample_embeddings").fetchall() == [("s1", "sface")]
        assert db.execute("SELECT COUNT(*) FROM releases").fetchone() == (0,)


def test_device_binding_migration_runs_over_a_database_of_001_to_009(db_target: Path | str) -> None:
    """A hub database of every earlier migration (deletions, name skeletons, releases) takes 010 alone: its
    tokens keep working, unbound (an old `device` token then downloads nothing until replaced)."""
    hub_db = HubDb(db_target)
    hub_db.db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
    earlier = [(name, migration) for name, migration in MIGRATIONS if name < "010"]
    assert [name[:3] for name, _ in earlier] == [f"{i:03d}" for i in range(1, 10)]
    for name, migration in earlier:
        with hub_db.transaction() as db:
            migration(db)
            db.execute("INSERT INTO _migrations VALUES (?, '2025-01-01')", [name])
    with hub_db.transaction() as db:
        digest = hashlib.sha256(b"ffh_old").hexdigest()
        db.execute("INSERT INTO tokens VALUES ('t1', 'old-device', 'device', ?, '2025', 0)", [digest])
    assert hub_db.migrate() == [name for name, _ in MIGRATIONS if name >= "010"]
    info = TokenStore(hub_db).lookup("ffh_old")
    assert info is not None and info.scopes == {"device"} and info.device_id is None
    _, secret = TokenStore(hub_db).create("door", ["device"], "door-1")
    bound = TokenStore(hub_db).lookup(secret)
    assert bound is not None and bound.device_id == "door-1"


def test_token_create_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    assert (
        main(
            [
                "token",
                "create",
                "--scope",
                "enroll",
                "--scope",
                "device",
                "--name",
                "laptop",
                "--device",
                "laptop-1",
                "--config",
                str(config),
            ]
        )
        == 0
    )
    secret = capsys.readouterr().out.strip()
    hub_db = HubDb(load_settings(config).database_target)
    info = TokenStore(hub_db).lookup(secret)
    assert info is not None and info.scopes == {"enroll", "device"} and not info.allows("admin")
    assert info.device_id == "laptop-1"
    assert main(["token", "revoke", info.id, "--config", str(config)]) == 0
    assert TokenStore(hub_db).lookup(secret) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "device"], "bound to its device"),  # a device token names its device
        (["--scope", "enroll", "--device", "door-1"], "only a token with the device scope"),
        (["--scope", "device", "--device", "Door 1"], "bad device id"),
    ],
)
def test_token_binding_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n")
    assert main(["token", "create", *args, "--config", str(config)]) == 2
    assert message in capsys.readouterr().err


def test_every_cli_command_is_documented() -> None:
    readme = (ROOT / "hub" / "README.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        for leaf in nested[0].choices if nested else [None]:
            usage = f"facefleet-hub {name}" + (f" {leaf}" if leaf else "")
            assert usage in readme, f"{usage} is not documented in hub/README.md"


def test_module_entry_point_help() -> None:
    result = subprocess.run([sys.executable, "-m", "hub", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "serve" in result.stdout
