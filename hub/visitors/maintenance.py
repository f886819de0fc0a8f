"""Keeping the visitor store in shape: periodic re-clustering, the retention purge, crash recovery.

Re-clustering takes the newest `recluster_max_tracks` unknown tracks of a model, clusters them again with
average linkage (`hub.visitors.cluster.recluster`, a user's merges and ignores pinned), and moves tracks
between visitors: each new cluster keeps the id most of its tracks had, so a visitor a user looked at keeps
its id unless it was split. Older tracks stay where they are. The clustering runs outside the database lock;
if anything moved tracks meanwhile (a merge, a delete, a purge), that round is dropped and the next one
tries again.

Retention: tracks older than `retention_days` (by arrival at the hub), and the oldest ones past
`max_tracks`, are deleted with their crops and templates, except the tracks of ignored visitors (they make
the ignore entry, kept until a user stops ignoring or deletes the visitor). Visitors left without tracks go
too. The library's samples are never touched here: a named person's samples are removed only by a user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from hub.artifacts.revocations import carry_holders
from hub.db import now_iso
from hub.records import Record
from hub.store import Store
from hub.visitors.cluster import recluster, relabel
from hub.visitors.store import VisitorStore, new_visitor_id

_EXPIRED = """SELECT t.event_id, t.crop_file FROM ended_tracks t LEFT JOIN visitors v ON v.id = t.visitor_id
    WHERE COALESCE(v.ignored, 0) = 0"""


class ReclusterReport(Record):
    model_id: str
    tracks: int
    moved: int
    visitors_before: int
    visitors_after: int
    applied: bool  # False: the store changed while clustering; nothing was moved


@dataclass(frozen=True)
class PurgeReport:
    tracks: int
    visitors: int
    ts: str


def recluster_model(store: VisitorStore, model_id: str) -> ReclusterReport:
    """Re-cluster the newest unknown tracks of one model (see the module docstring)."""
    generation = store.generation
    with store.hub_db.read() as db:
        rows = db.execute(
            """SELECT event_id, visitor_id, template FROM ended_tracks WHERE model_id = ? AND
                             visitor_id IS NOT NULL ORDER BY received DESC LIMIT ?""",
            [model_id, store.config.recluster_max_tracks],
        ).fetchall()
        flags = {
            r[0]: (bool(r[1]), bool(r[2]))
            for r in db.execute("SELECT id, pinned, ignored FROM visitors WHERE model_id = ?", [model_id]).fetchall()
        }
    old = [str(r[1]) for r in rows]
    pins = [np.flatnonzero(np.array(old) == v) for v in sorted(set(old)) if flags.get(v, (False, False))[0]]
    labels = recluster(
        np.stack([np.frombuffer(r[2], "<f4") for r in rows]) if rows else np.zeros((0, 1)),
        pins,
        store.config.join_cosine,
    )
    new = relabel(list(old), labels, [new_visitor_id() for _ in range(len(set(labels.tolist())))])
    moved = [(v, r[0]) for v, r, o in zip(new, rows, old, strict=True) if v != o]
    with store.hub_db.transaction() as db:
        if store.generation != generation:
            return ReclusterReport(
                model_id=model_id,
                tracks=len(rows),
                moved=0,
                visitors_before=len(set(old)),
                visitors_after=len(set(old)),
                applied=False,
            )
        for visitor_id in sorted(set(new) - set(flags)):
            db.insert(
                "visitors", {"id": visitor_id, "model_id": model_id, "ignored": 0, "pinned": 0, "created": now_iso()}
            )
        db.executemany("UPDATE ended_tracks SET visitor_id = ? WHERE event_id = ?", moved)
        carry_holders(db, sorted(set(zip(old, new, strict=True))))
        _carry_flags(db, new, old, flags)
        db.execute(
            "DELETE FROM visitors WHERE id NOT IN (SELECT DISTINCT visitor_id FROM ended_tracks "
            "WHERE visitor_id IS NOT NULL)"
        )
        store.forget_centres(model_id)
    for visitor_id in sorted(set(new)):
        store.trim_crops(visitor_id)
    return ReclusterReport(
        model_id=model_id,
        tracks=len(rows),
        moved=len(moved),
        visitors_before=len(set(old)),
        visitors_after=len(set(new)),
        applied=True,
    )


def _carry_flags(db: Store, new: list[str], old: list[str], flags: dict[str, tuple[bool, bool]]) -> None:
    """A visitor that took tracks of a pinned or ignored one is pinned or ignored too."""
    inherited: dict[str, tuple[bool, bool]] = {}
    for visitor_id, before in zip(new, old, strict=True):
        pinned, ignored = inherited.get(visitor_id, flags.get(visitor_id, (False, False)))
        was_pinned, was_ignored = flags.get(before, (False, False))
        inherited[visitor_id] = (pinned or was_pinned, ignored or was_ignored)
    changed = [(int(p), int(i), v) for v, (p, i) in inherited.items() if flags.get(v, (False, False)) != (p, i)]
    db.executemany("UPDATE visitors SET pinned = ?, ignored = ? WHERE id = ?", changed)


def recluster_all(store: VisitorStore) -> list[ReclusterReport]:
    """`recluster_model` for every model that has visitors."""
    with store.hub_db.read() as db:
        models = [r[0] for r in db.execute("SELECT DISTINCT model_id FROM visitors ORDER BY model_id").fetchall()]
    return [recluster_model(store, m) for m in models]


def purge(store: VisitorStore, now: datetime) -> PurgeReport:
    """Delete expired tracks and those past `max_tracks` (see the module docstring)."""
    config = store.config
    cutoff = (now - timedelta(days=config.retention_days)).isoformat()
    with store.hub_db.transaction() as db:
        expired = db.execute(_EXPIRED + " AND t.received < ?", [cutoff]).fetchall()
        total = int(db.execute("SELECT COUNT(*) FROM ended_tracks").fetchone()[0]) - len(expired)
        over = db.execute(
            _EXPIRED + " AND t.received >= ? ORDER BY t.received LIMIT ?", [cutoff, max(0, total - config.max_tracks)]
        ).fetchall()
        gone = expired + over
        db.executemany("DELETE FROM ended_tracks WHERE event_id = ?", [(r[0],) for r in gone])
        visitors = db.execute(
            "DELETE FROM visitors WHERE id NOT IN (SELECT DISTINCT visitor_id FROM "
            "ended_tracks WHERE visitor_id IS NOT NULL)"
        ).rowcount
        db.execute("DELETE FROM suggestions WHERE person_id NOT IN (SELECT id FROM people)")
        if gone:
            store.forget_centres()
    for _, crop_file in gone:
        store.unlink(crop_file)
    return PurgeReport(len(gone), max(0, visitors), now.isoformat())


def recover(store: VisitorStore) -> int:
    """Remove crop files without a row (a crash between writing a crop and committing its row)."""
    with store.hub_db.read() as db:
        known = {r[0] for r in db.execute("SELECT crop_file FROM ended_tracks WHERE crop_file IS NOT NULL")}
    orphans = [p for p in store.crops_dir.glob("*.jpg") if p.name not in known]
    for path in orphans:
        path.unlink()
    return len(orphans)
