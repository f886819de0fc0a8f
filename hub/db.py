"""The hub's database (SQLite file or PostgreSQL, `hub.store`): one store shared by the API threads and
the MQTT thread, named migrations.

SQLite serialises writers anyway; one lock around every use of the shared store keeps a transaction
from one thread from swallowing statements of another (on PostgreSQL too: one unit of work at a time, in the
same order; its pool replaces connections a server restart killed, `hub.pg_pool`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from facefleet.wire import EVENT_ID_PATTERN
from hub.pg_pool import PoolCounts
from hub.store import PostgresStore, Store, open_store

Migration = Callable[[Store], None]


def _m001_library(db: Store) -> None:
    db.execute("""CREATE TABLE people (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL)""")
    db.execute("""CREATE TABLE samples (
        id TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        file_name TEXT NOT NULL, source TEXT NOT NULL, model_id TEXT NOT NULL, embedding BLOB NOT NULL,
        face_px REAL NOT NULL, detector_score REAL NOT NULL, sharpness REAL NOT NULL, quality REAL NOT NULL,
        created TEXT NOT NULL)""")
    db.execute("CREATE INDEX samples_person ON samples(person_id)")


def _m002_tokens(db: Store) -> None:
    db.execute("""CREATE TABLE tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, scopes TEXT NOT NULL,
        sha256 TEXT NOT NULL UNIQUE, created TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""")


def _m003_artifacts(db: Store) -> None:
    db.execute("""CREATE TABLE artifacts (kind TEXT NOT NULL, version TEXT NOT NULL, model_id TEXT NOT NULL,
        sha256 TEXT NOT NULL, size INTEGER NOT NULL, created TEXT NOT NULL, people INTEGER NOT NULL,
        templates INTEGER NOT NULL, PRIMARY KEY (kind, version))""")


def _m004_devices_rollouts(db: Store) -> None:
    db.execute("""CREATE TABLE devices (id TEXT PRIMARY KEY, state TEXT NOT NULL, device_group TEXT NOT NULL,
        agent_version TEXT NOT NULL, model_id TEXT NOT NULL, model_version TEXT NOT NULL,
        gallery_version TEXT NOT NULL, cameras TEXT NOT NULL, last_seen TEXT NOT NULL)""")
    db.execute("""CREATE TABLE rollouts (id TEXT PRIMARY KEY, kind TEXT NOT NULL, version TEXT NOT NULL,
        state TEXT NOT NULL, detail TEXT NOT NULL, canary_timeout_s REAL NOT NULL, created TEXT NOT NULL,
        phase_started TEXT NOT NULL, updated TEXT NOT NULL)""")
    db.execute("""CREATE TABLE rollout_devices (rollout_id TEXT NOT NULL REFERENCES rollouts(id),
        device_id TEXT NOT NULL, canary INTEGER NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL,
        updated TEXT NOT NULL, PRIMARY KEY (rollout_id, device_id))""")


def _m005_embeddings_per_model(db: Store) -> None:
    """Embeddings move out of `samples` into one row per (sample, model): a library re-embedded with a
    released model keeps the old model's embeddings beside the new ones until they are pruned."""
    db.execute("""CREATE TABLE sample_embeddings (
        sample_id TEXT NOT NULL REFERENCES samples(id) ON DELETE CASCADE, model_id TEXT NOT NULL,
        embedding BLOB NOT NULL, PRIMARY KEY (sample_id, model_id))""")
    db.execute("CREATE INDEX sample_embeddings_model ON sample_embeddings(model_id)")
    db.execute("INSERT INTO sample_embeddings SELECT id, model_id, embedding FROM samples")
    db.execute("ALTER TABLE samples DROP COLUMN embedding")
    db.execute("ALTER TABLE samples DROP COLUMN model_id")


def _m006_active_model(db: Store) -> None:
    """The hub's active model (one row, written at first start) and the re-embedding jobs that switch it."""
    db.execute("""CREATE TABLE active_model (id INTEGER PRIMARY KEY CHECK (id = 1), model_id TEXT NOT NULL,
        version TEXT NOT NULL, previous_model_id TEXT NOT NULL, updated TEXT NOT NULL)""")
    db.execute("""CREATE TABLE reembeds (id TEXT PRIMARY KEY, model_id TEXT NOT NULL, version TEXT NOT NULL,
        state TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER NOT NULL, error TEXT NOT NULL,
        created TEXT NOT NULL, updated TEXT NOT NULL)""")


def _m007_person_deletions(db: Store) -> None:
    """Deleting a person is a recorded fact (the audit, and what in-flight uploads check against), and
    galleries know whom they hold so a deletion can revoke them."""
    db.execute("""CREATE TABLE person_deletions (seq INTEGER PRIMARY KEY AUTOINCREMENT, person_id TEXT NOT NULL,
        person_name TEXT NOT NULL, samples INTEGER NOT NULL, token_id TEXT NOT NULL, token_name TEXT NOT NULL,
        deleted_at TEXT NOT NULL, revoked_galleries TEXT NOT NULL)""")
    db.execute("CREATE INDEX person_deletions_name ON person_deletions(person_name)")
    db.execute("""CREATE TABLE gallery_people (version TEXT NOT NULL, person_id TEXT NOT NULL,
        PRIMARY KEY (version, person_id))""")
    db.execute("CREATE INDEX gallery_people_person ON gallery_people(person_id)")
    db.execute("ALTER TABLE artifacts ADD COLUMN revoked TEXT NOT NULL DEFAULT ''")


def _m008_name_skeletons(db: Store) -> None:
    """The confusable skeleton of each name (hub.names), so a look-alike of an existing name is refused."""
    from hub.library.names import skeleton

    db.execute("ALTER TABLE people ADD COLUMN skeleton TEXT NOT NULL DEFAULT ''")
    for person_id, name in db.execute("SELECT id, name FROM people").fetchall():
        db.execute("UPDATE people SET skeleton = ? WHERE id = ?", [skeleton(name), person_id])
    db.execute("CREATE INDEX people_skeleton ON people(skeleton)")


def _m009_releases(db: Store) -> None:
    """Release rollouts (model staged everywhere, then its gallery) survive a hub restart."""
    db.execute("""CREATE TABLE releases (id TEXT PRIMARY KEY, model_version TEXT NOT NULL,
        gallery_version TEXT NOT NULL, targets TEXT NOT NULL, canaries TEXT NOT NULL,
        canary_timeout_s REAL NOT NULL, model_rollout_id TEXT NOT NULL, gallery_rollout_id TEXT NOT NULL,
        state TEXT NOT NULL, detail TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL)""")


def _m010_token_device(db: Store) -> None:
    """A `device` token speaks for one device: artifacts are served to it only where it is a target."""
    db.execute("ALTER TABLE tokens ADD COLUMN device_id TEXT")


def _m011_visitors(db: Store) -> None:
    """Ended tracks received with a template (unknown ones grouped into visitors), suggested samples, and
    the record of visitors a user deleted (checked, as person deletions are, when a gallery is registered)."""
    db.execute("""CREATE TABLE visitors (id TEXT PRIMARY KEY, model_id TEXT NOT NULL,
        ignored INTEGER NOT NULL DEFAULT 0, pinned INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL)""")
    db.execute("""CREATE TABLE ended_tracks (event_id TEXT PRIMARY KEY,
        visitor_id TEXT REFERENCES visitors(id) ON DELETE CASCADE, person_id TEXT, device_id TEXT NOT NULL,
        camera TEXT NOT NULL, track_id INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
        model_id TEXT NOT NULL, template BLOB NOT NULL, confidence REAL NOT NULL, frames INTEGER NOT NULL,
        liveness REAL, sharpness REAL NOT NULL, crop_file TEXT, ignored INTEGER NOT NULL,
        received TEXT NOT NULL)""")
    db.execute("CREATE INDEX ended_tracks_visitor ON ended_tracks(visitor_id)")
    db.execute("CREATE INDEX ended_tracks_received ON ended_tracks(received)")
    db.execute("CREATE INDEX ended_tracks_person ON ended_tracks(person_id)")
    db.execute("""CREATE TABLE suggestions (event_id TEXT PRIMARY KEY REFERENCES ended_tracks(event_id)
        ON DELETE CASCADE, person_id TEXT NOT NULL, margin REAL NOT NULL, state TEXT NOT NULL,
        auto INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '', created TEXT NOT NULL,
        decided TEXT)""")
    db.execute("CREATE INDEX suggestions_person ON suggestions(person_id, state)")
    db.execute("""CREATE TABLE visitor_deletions (seq INTEGER PRIMARY KEY AUTOINCREMENT, visitor_id TEXT NOT NULL,
        tracks INTEGER NOT NULL, deleted_at TEXT NOT NULL, revoked_galleries TEXT NOT NULL)""")
    db.execute("CREATE INDEX visitor_deletions_visitor ON visitor_deletions(visitor_id)")


def _m012_track_ids_without_paths(db: Store) -> None:
    """Event ids got a pattern on the wire (`facefleet.wire.EVENT_ID_PATTERN`): tracks stored before it under an
    id that is not one (a device naming a path) go, with their suggestions. Their crop files are left: the
    name led outside the crops folder, to files that are not the store's to delete."""
    ids = [r[0] for r in db.execute("SELECT event_id FROM ended_tracks").fetchall()]
    bad = [(i,) for i in ids if not EVENT_ID_PATTERN.fullmatch(i)]
    db.executemany("DELETE FROM suggestions WHERE event_id = ?", bad)
    db.executemany("DELETE FROM ended_tracks WHERE event_id = ?", bad)
    db.execute(
        "DELETE FROM visitors WHERE id NOT IN (SELECT DISTINCT visitor_id FROM ended_tracks "
        "WHERE visitor_id IS NOT NULL)"
    )


def _m013_visitor_founders(db: Store) -> None:
    """Which device's track founded a visitor ('' for earlier ones and re-clusterings): one device founds a
    bounded number an hour."""
    db.execute("ALTER TABLE visitors ADD COLUMN device_id TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE INDEX visitors_founder ON visitors(device_id, created)")


def _m014_upload_keys(db: Store) -> None:
    """Keys of stored uploads (hub.library.upload_keys), so a retried upload is not stored twice."""
    db.execute("""CREATE TABLE upload_keys (key TEXT PRIMARY KEY, label TEXT NOT NULL, person_id TEXT NOT NULL,
        sample_ids TEXT NOT NULL, created TEXT NOT NULL)""")
    db.execute("CREATE INDEX upload_keys_created ON upload_keys(created)")


def _m015_device_collections(db: Store) -> None:
    """Collections of face crops an operator asked a device's camera for (`hub.fleet.collections`): requested,
    then pending (crops uploaded, waiting for the operator), then confirmed, rejected or expired. Tokens get
    an expiry (the one-use `collect` tokens of these requests; NULL: never)."""
    db.execute("ALTER TABLE tokens ADD COLUMN expires TEXT")
    db.execute("""CREATE TABLE collections (id TEXT PRIMARY KEY, device_id TEXT NOT NULL, camera TEXT NOT NULL,
        label TEXT NOT NULL, seconds REAL NOT NULL, max_crops INTEGER NOT NULL, token_id TEXT NOT NULL,
        state TEXT NOT NULL, crops INTEGER NOT NULL DEFAULT 0, detail TEXT NOT NULL DEFAULT '',
        requested_by TEXT NOT NULL, created TEXT NOT NULL, expires TEXT NOT NULL, updated TEXT NOT NULL)""")
    db.execute("CREATE INDEX collections_state ON collections(state, expires)")


def _m016_stream_event_seq(db: Store) -> None:
    """The last event `seq` of each thin camera (`hub.streams`): the hub numbers their track events as an
    agent's outbox does, one more per event, surviving restarts."""
    db.execute("CREATE TABLE stream_event_seq (device_id TEXT PRIMARY KEY, seq INTEGER NOT NULL)")


MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("001_library", _m001_library),
    ("002_tokens", _m002_tokens),
    ("003_artifacts", _m003_artifacts),
    ("004_devices_rollouts", _m004_devices_rollouts),
    ("005_embeddings_per_model", _m005_embeddings_per_model),
    ("006_active_model", _m006_active_model),
    ("007_person_deletions", _m007_person_deletions),
    ("008_name_skeletons", _m008_name_skeletons),
    ("009_releases", _m009_releases),
    ("010_token_device", _m010_token_device),
    ("011_visitors", _m011_visitors),
    ("012_track_ids_without_paths", _m012_track_ids_without_paths),
    ("013_visitor_founders", _m013_visitor_founders),
    ("014_upload_keys", _m014_upload_keys),
    ("015_device_collections", _m015_device_collections),
    ("016_stream_event_seq", _m016_stream_event_seq),
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def now_iso() -> str:
    return utc_now().isoformat()


class HubDb:
    """A `Store` (SQLite for a path, PostgreSQL for a `postgresql://` URL) plus the lock that every reader
    and writer holds."""

    def __init__(self, target: Path | str, connect_timeout_s: float = 10.0) -> None:
        self.db = open_store(target, connect_timeout_s)
        self.lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the lock and run the block in one transaction (savepoint when nested)."""
        with self.lock, self.db.atomic():
            yield self.db

    @contextmanager
    def read(self) -> Iterator[Store]:
        with self.lock:
            yield self.db

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied, each in its own transaction. Returns their names.

        A migration is known by its name, not its number: those not recorded in `_migrations` run in the
        order of MIGRATIONS, so a number left free (one another line of work takes) is harmless, and a
        migration added below a number already applied still runs.
        """
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)")
        done = {row["name"] for row in self.db.query("SELECT name FROM _migrations")}
        applied = []
        for name, migration in MIGRATIONS:
            if name in done:
                continue
            with self.transaction() as db:
                migration(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?)", [name, now_iso()])
            applied.append(name)
        return applied

    def pool_counts(self) -> PoolCounts:
        """Reconnects and refused units of work of PostgreSQL's pool (zeros on SQLite, which has no server)."""
        return self.db.pool.counts if isinstance(self.db, PostgresStore) else PoolCounts()

    def checkpoint(self) -> None:
        """Move what the write-ahead log holds into the database file and empty the log (SQLite; a no-op on
        PostgreSQL): after a deletion, the deleted rows' old pages no longer sit in the log."""
        with self.lock:
            self.db.checkpoint()

    def close(self) -> None:
        with self.lock:
            self.db.close()
