"""`facefleet-hub migrate`: a hub's SQLite library with real enrollments (people, samples and their crops, a
gallery artifact, a deletion in the audit, visitors) copied into a real PostgreSQL database and verified; a
hub on PostgreSQL with the same data_dir then serves the same people, samples, search answers and crops."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import yaml

from hub.cli import main
from hub.store_move import table_digest
from tests.conftest import LFW
from tests.hub.conftest import HubServer
from tests.hub.visitors.conftest import track_event
from tests.postgres import PostgresServer

PEOPLE = {"Colin_Powell": range(1, 4), "Tony_Blair": range(1, 4), "George_W_Bush": range(1, 3)}
PROBE = LFW / "images_deepfunneled" / "Tony_Blair" / "Tony_Blair_0010.jpg"


def photos(name: str, numbers: range) -> list[tuple[str, tuple[str, bytes, str]]]:
    folder = LFW / "images_deepfunneled" / name
    return [("files", (f"{n}.jpg", (folder / f"{name}_{n:04d}.jpg").read_bytes(), "image/jpeg")) for n in numbers]


def build_library(server: HubServer) -> None:
    """Enrollments, a gallery, a person deleted (the audit) and two visitors with their crops."""
    admin = server.client(server.admin)
    for name, numbers in PEOPLE.items():
        answer = admin.post("/api/samples/photos", data={"label": name}, files=photos(name, numbers))
        assert answer.status_code == 201, answer.text
    assert admin.post("/api/galleries").status_code == 201
    bush = next(p for p in admin.get("/api/people").json() if p["name"] == "George_W_Bush")
    assert admin.delete(f"/api/people/{bush['id']}").status_code == 200
    rng = np.random.default_rng(7)
    for i in range(2):
        template = rng.normal(size=128).astype(np.float32)
        jpeg = cv2.imencode(".jpg", rng.integers(0, 255, (112, 112, 3), dtype=np.uint8))[1].tobytes()
        event = track_event(f"door-1-t{i}", template / np.linalg.norm(template), jpeg, track_id=i)
        assert server.hub.visitors.on_event(event) is not None


def served(admin: httpx.Client) -> dict[str, Any]:
    """What a client sees of the library (the hub's own address taken out of URLs): people, samples, a search,
    the audit, the galleries, the visitors, and the bytes of the sample and track crops."""
    samples = admin.get("/api/samples").json()
    visitors = admin.get("/api/visitors").json()
    visitors.pop("last_purge")  # the time of the running hub's first purge, not a stored value
    crops = {s["id"]: admin.get(f"/api/samples/{s['id']}/image").content for s in samples}
    crops |= {v["id"]: admin.get(v["crop_url"]).content for v in visitors["visitors"]}
    search = admin.post("/api/search", files={"file": ("probe.jpg", PROBE.read_bytes(), "image/jpeg")}).json()
    answers = {
        "people": admin.get("/api/people").json(),
        "samples": samples,
        "search": search,
        "deletions": admin.get("/api/audit/deletions").json(),
        "galleries": admin.get("/api/galleries").json(),
        "visitors": visitors,
    }
    return {**json.loads(json.dumps(answers).replace(str(admin.base_url).rstrip("/"), "HUB")), "crops": crops}


def migrate(config: Path, url: str, *extra: str) -> int:
    return main(["migrate", "--to", url, "--config", str(config), *extra])


def test_a_sqlite_library_moves_to_postgresql_and_serves_the_same(
    start_hub: Callable[..., HubServer],
    own_postgres: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "hub"
    sqlite_hub = start_hub(data_dir=data_dir)
    build_library(sqlite_hub)
    before = served(sqlite_hub.client(sqlite_hub.admin))
    assert len(before["crops"]) == 8 and all(c[:2] == b"\xff\xd8" for c in before["crops"].values())  # JPEGs
    sqlite_hub.stop()
    sqlite_hub.hub.db.close()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data_dir)}))
    url = own_postgres.new_database()

    assert migrate(config, url) == 0
    report = capsys.readouterr().out
    for table, rows in (
        ("people", 2),
        ("samples", 6),
        ("artifacts", 1),
        ("person_deletions", 1),
        ("visitors", 2),
        ("ended_tracks", 2),
    ):
        assert f"{table} " in report and f" {rows} rows" in report.split(f"{table} ")[1].splitlines()[0]

    pg_hub = start_hub(data_dir=data_dir, database={"url": url})
    admin = pg_hub.client(pg_hub.admin)
    assert served(admin) == before
    tony = next(p for p in admin.get("/api/people").json() if p["name"] == "Tony_Blair")
    assert admin.delete(f"/api/people/{tony['id']}").status_code == 200  # the audit's sequence goes on from 1
    assert [d["seq"] for d in admin.get("/api/audit/deletions").json()] == [1, 2]


def test_a_target_with_rows_is_refused_untouched_unless_replaced(
    tmp_path: Path, own_postgres: PostgresServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.db import HubDb

    data_dir = tmp_path / "hub"
    source = HubDb(data_dir / "hub.sqlite")
    source.migrate()
    with source.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p1', 'Ann', '2026', 'ann')")
    source.close()
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data_dir)}))
    url = own_postgres.new_database()
    target = HubDb(url)
    target.migrate()
    with target.transaction() as db:
        db.execute("INSERT INTO people VALUES ('p2', 'Bob', '2026', 'bob')")

    assert migrate(config, url) == 2
    assert "holds rows (people 1)" in capsys.readouterr().err
    with target.read() as db:
        assert db.execute("SELECT id FROM people").fetchall() == [("p2",)]
    assert migrate(config, url, "--replace") == 0
    with target.read() as db:
        assert db.execute("SELECT id FROM people").fetchall() == [("p1",)]
    target.close()
    assert migrate(tmp_path / "missing.yaml", url) == 2  # a config that is not there: a clear error


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        ([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], True),  # row order does not matter
        ([(1,)], [(1.0,)], False),  # an integer is not its float
        ([("1",)], [(1,)], False),  # nor its text
        ([(b"\x00",)], [(memoryview(b"\x00"),)], True),  # bytes however the driver hands them
        ([(None, "ab")], [("ab", None)], False),  # values stay in their columns
        ([(0.1 + 0.2,)], [(0.3,)], False),  # floats to the bit
    ],
)
def test_table_digest(left: list[tuple[Any, ...]], right: list[tuple[Any, ...]], same: bool) -> None:
    assert (table_digest(left) == table_digest(right)) is same
