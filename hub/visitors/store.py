"""Ended tracks and visitors in the hub's database, crops on disk: ingest, read, and a user's decisions.

Every `track_ended` event with a template is stored (named tracks too: they feed suggested samples and "not
this person"). An unknown track joins a visitor by the online rule of `hub.visitors.cluster`; visitors of
different models never meet (each model has its own centres, and a template whose size differs from its
model's is refused). The centres live in memory (one (V, D) sum per model), rebuilt from the database
whenever tracks move between visitors. Crops are written before their row and removed if the row is not
committed; `hub.visitors.maintenance.recover` removes files a crash left without a row.

A crop's file is named by an id the hub makes (`crop_file`), never by the device's `event_id`, is created
exclusively (never over an existing file), and every path read or removed is checked to resolve inside
`crops_dir`: rows from before this rule whose name leads elsewhere are treated as having no crop.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from hub.artifacts.revocations import carry_holders
from hub.db import HubDb, now_iso, utc_now
from hub.errors import NotFoundError
from hub.settings import VisitorConfig
from hub.store import Store
from hub.visitors.cluster import nearest_centre, unit_rows
from hub.visitors.records import EndedTrack, TrackRecord, Visitor, VisitorBudgetError, VisitorDetail, VisitorError

_VISITOR_SQL = """SELECT v.id, v.model_id, v.ignored, v.pinned, v.created, COUNT(t.event_id),
    MIN(t.started_at), MAX(t.ended_at), {cameras},
    (SELECT c.event_id FROM ended_tracks c WHERE c.visitor_id = v.id AND c.crop_file IS NOT NULL
     ORDER BY c.sharpness DESC LIMIT 1)
    FROM visitors v JOIN ended_tracks t ON t.visitor_id = v.id"""


@dataclass
class _Centres:
    """One model's visitors: ids (V,) and the sums of their tracks' templates (V, D) float64."""

    ids: list[str]
    sums: np.ndarray


def new_visitor_id() -> str:
    return "v-" + uuid.uuid4().hex[:12]


class VisitorStore:
    def __init__(self, hub_db: HubDb, crops_dir: Path, config: VisitorConfig) -> None:
        self.hub_db = hub_db
        self.crops_dir = crops_dir
        self.config = config
        self._centres: dict[str, _Centres] = {}
        self.generation = 0  # counts changes that move or remove tracks (re-clustering checks it)
        crops_dir.mkdir(parents=True, exist_ok=True)

    # ingest -------------------------------------------------------------------------------------------
    def add(self, track: EndedTrack) -> TrackRecord | None:
        """Store a track; an unknown one joins (or founds) a visitor. None when the event was stored before.

        Raises VisitorError for a template whose size differs from the other tracks of its model.
        """
        with self.hub_db.lock:
            self._check_dim(track)
            crop_file = self._write_crop(track)
            try:
                visitor_id = self._insert(track, crop_file)
            except BaseException:
                self.forget_centres(track.model_id)
                self.unlink(crop_file)
                raise
            if visitor_id is None:
                self.unlink(crop_file)
                return None
            self.trim_crops(visitor_id)
            return self.track(track.event_id)

    def _insert(self, track: EndedTrack, crop_file: str | None) -> str | None:
        """Insert the row (and a new visitor) in one transaction; the visitor id, '' for a named track,
        None for a repeat."""
        with self.hub_db.transaction() as db:
            if db.execute("SELECT 1 FROM ended_tracks WHERE event_id = ?", [track.event_id]).fetchone():
                return None
            visitor_id = self._assign(db, track) if track.person_id is None else None
            db.insert("ended_tracks", _row(track, visitor_id, crop_file))
        if visitor_id is not None:
            self._join_centre(track.model_id, visitor_id, track.template)
        return visitor_id or ""

    def _assign(self, db: Store, track: EndedTrack, budget: bool = True) -> str:
        """The visitor an unknown track joins; a new visitor row when none is near enough, within its device's
        budget unless `budget` is False (a user's decision): VisitorBudgetError past
        `max_new_visitors_per_device_hour`."""
        centres = self._centres_of(db, track.model_id)
        row = nearest_centre(track.template, unit_rows(centres.sums), self.config.join_cosine)
        if row >= 0:
            return centres.ids[row]
        if budget:
            self._check_budget(db, track.device_id)
        visitor_id = new_visitor_id()
        db.insert(
            "visitors",
            {
                "id": visitor_id,
                "model_id": track.model_id,
                "ignored": 0,
                "pinned": 0,
                "created": now_iso(),
                "device_id": track.device_id,
            },
        )
        return visitor_id

    def _check_budget(self, db: Store, device_id: str) -> None:
        since = (utc_now() - timedelta(hours=1)).isoformat()
        founded = int(
            db.execute(
                "SELECT COUNT(*) FROM visitors WHERE device_id = ? AND created >= ?", [device_id, since]
            ).fetchone()[0]
        )
        if founded >= self.config.max_new_visitors_per_device_hour:
            raise VisitorBudgetError(
                f"device {device_id} founded {founded} visitors in the last hour "
                "(visitors.max_new_visitors_per_device_hour)"
            )

    def _centres_of(self, db: Store, model_id: str) -> _Centres:
        if model_id not in self._centres:
            rows = db.execute(
                """SELECT visitor_id, template FROM ended_tracks WHERE model_id = ?
                                 AND visitor_id IS NOT NULL""",
                [model_id],
            ).fetchall()
            ids = sorted({r[0] for r in rows})
            index = {v: i for i, v in enumerate(ids)}
            dim = len(rows[0][1]) // 4 if rows else 0
            sums = np.zeros((len(ids), dim), np.float64)
            for visitor_id, blob in rows:
                sums[index[visitor_id]] += np.frombuffer(blob, "<f4")
            self._centres[model_id] = _Centres(ids, sums)
        return self._centres[model_id]

    def _join_centre(self, model_id: str, visitor_id: str, template: np.ndarray) -> None:
        centres = self._centres.get(model_id)
        if centres is None:
            return  # rebuilt from the database when next needed
        if visitor_id in centres.ids:
            centres.sums[centres.ids.index(visitor_id)] += template
        else:
            centres.ids.append(visitor_id)
            sums = centres.sums if centres.sums.shape[1:] == template.shape else np.zeros((0, len(template)))
            centres.sums = np.vstack([sums, template[None].astype(np.float64)])

    def forget_centres(self, model_id: str | None = None) -> None:
        """Tracks moved: drop cached centres (of one model, or all); the next track rebuilds them."""
        with self.hub_db.lock:
            self.generation += 1
            if model_id is None:
                self._centres.clear()
            else:
                self._centres.pop(model_id, None)

    def _check_dim(self, track: EndedTrack) -> None:
        with self.hub_db.read() as db:
            row = db.execute(
                "SELECT length(template) FROM ended_tracks WHERE model_id = ? LIMIT 1", [track.model_id]
            ).fetchone()
        if row is not None and int(row[0]) != 4 * len(track.template):
            raise VisitorError(
                f"a {len(track.template)}-d template for model {track.model_id!r}, whose "
                f"tracks are {int(row[0]) // 4}-d"
            )

    def _write_crop(self, track: EndedTrack) -> str | None:
        if track.crop_jpeg is None:
            return None
        name = f"{uuid.uuid4().hex}.jpg"
        with open(self.crops_dir / name, "xb") as file:
            file.write(track.crop_jpeg)
        return name

    def inside(self, crop_file: str | None) -> Path | None:
        """The path of a stored crop file name when it resolves inside `crops_dir`, else None."""
        if not crop_file:
            return None
        path = (self.crops_dir / crop_file).resolve()
        return path if path.parent == self.crops_dir.resolve() else None

    def unlink(self, crop_file: str | None) -> None:
        if (path := self.inside(crop_file)) is not None:
            path.unlink(missing_ok=True)

    def trim_crops(self, visitor_id: str | None) -> None:
        """Keep the crops of a visitor's `crops_per_visitor` sharpest tracks; the others keep their template."""
        if not visitor_id:
            return
        with self.hub_db.transaction() as db:
            rows = db.execute(
                """SELECT event_id, crop_file FROM ended_tracks WHERE visitor_id = ? AND crop_file
                                 IS NOT NULL ORDER BY sharpness DESC""",
                [visitor_id],
            ).fetchall()
            rows = rows[self.config.crops_per_visitor :]
            db.executemany("UPDATE ended_tracks SET crop_file = NULL WHERE event_id = ?", [(r[0],) for r in rows])
        for _, crop_file in rows:
            self.unlink(crop_file)

    # reads --------------------------------------------------------------------------------------------
    def visitors(self, limit: int = 100, offset: int = 0) -> list[Visitor]:
        """Most frequent first (then the most recently seen)."""
        with self.hub_db.read() as db:
            sql = _visitor_sql(db) + (
                " GROUP BY v.id ORDER BY COUNT(t.event_id) DESC, MAX(t.ended_at) DESC LIMIT ? OFFSET ?"
            )
            return [_visitor(r) for r in db.execute(sql, [limit, offset]).fetchall()]

    def count(self) -> tuple[int, int]:
        """(visitors, stored tracks)."""
        with self.hub_db.read() as db:
            return (
                int(db.execute("SELECT COUNT(*) FROM visitors").fetchone()[0]),
                int(db.execute("SELECT COUNT(*) FROM ended_tracks").fetchone()[0]),
            )

    def visitor(self, visitor_id: str) -> Visitor:
        with self.hub_db.read() as db:
            row = db.execute(_visitor_sql(db) + " WHERE v.id = ? GROUP BY v.id", [visitor_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no visitor {visitor_id}")
        return _visitor(row)

    def detail(self, visitor_id: str, limit: int = 200) -> VisitorDetail:
        return VisitorDetail(visitor=self.visitor(visitor_id), tracks=self.tracks(visitor_id=visitor_id, limit=limit))

    def tracks(
        self, visitor_id: str | None = None, person_id: str | None = None, limit: int = 100
    ) -> list[TrackRecord]:
        """Newest first; of one visitor, of one person (named tracks), or all."""
        where, args = (
            ("visitor_id = ?", [visitor_id])
            if visitor_id
            else (("person_id = ?", [person_id]) if person_id else ("1 = 1", []))
        )
        with self.hub_db.read() as db:
            rows = db.query(f"SELECT * FROM ended_tracks WHERE {where} ORDER BY ended_at DESC LIMIT ?", [*args, limit])
            return [TrackRecord.from_row(r) for r in rows]

    def track(self, event_id: str) -> TrackRecord:
        with self.hub_db.read() as db:
            rows = list(db.query("SELECT * FROM ended_tracks WHERE event_id = ?", [event_id]))
        if not rows:
            raise NotFoundError(f"no stored track {event_id}")
        return TrackRecord.from_row(rows[0])

    def template(self, event_id: str) -> np.ndarray:
        with self.hub_db.read() as db:
            row = db.execute("SELECT template FROM ended_tracks WHERE event_id = ?", [event_id]).fetchone()
        if row is None:
            raise NotFoundError(f"no stored track {event_id}")
        return np.frombuffer(row[0], "<f4").copy()

    def crop_path(self, event_id: str) -> Path:
        with self.hub_db.read() as db:
            row = db.execute("SELECT crop_file FROM ended_tracks WHERE event_id = ?", [event_id]).fetchone()
        path = self.inside(row[0]) if row is not None else None
        if path is None:
            raise NotFoundError(f"no crop kept for track {event_id}")
        return path

    def best_crops(self, visitor_id: str, count: int) -> list[tuple[str, bytes]]:
        """(event id, JPEG) of a visitor's sharpest kept crops, at most `count`."""
        self.visitor(visitor_id)
        with self.hub_db.read() as db:
            rows = db.execute(
                """SELECT event_id, crop_file FROM ended_tracks WHERE visitor_id = ? AND crop_file
                                 IS NOT NULL ORDER BY sharpness DESC LIMIT ?""",
                [visitor_id, count],
            ).fetchall()
        paths = [(r[0], self.inside(r[1])) for r in rows]
        return [(event_id, path.read_bytes()) for event_id, path in paths if path is not None and path.exists()]

    # a user's decisions -------------------------------------------------------------------------------
    def merge(self, keep_id: str, other_id: str) -> Visitor:
        """Move `other_id`'s tracks into `keep_id` (same model only); ignored if either was."""
        keep, other = self.visitor(keep_id), self.visitor(other_id)
        if keep_id == other_id or keep.model_id != other.model_id:
            raise VisitorError("merge needs two different visitors of the same model")
        with self.hub_db.transaction() as db:
            db.execute("UPDATE ended_tracks SET visitor_id = ? WHERE visitor_id = ?", [keep_id, other_id])
            db.execute(
                "UPDATE visitors SET pinned = 1, ignored = ? WHERE id = ?",
                [int(keep.ignored or other.ignored), keep_id],
            )
            db.execute("DELETE FROM visitors WHERE id = ?", [other_id])
            carry_holders(db, [(other_id, keep_id)])
            self.forget_centres(keep.model_id)
        self.trim_crops(keep_id)
        return self.visitor(keep_id)

    def set_ignored(self, visitor_id: str, ignored: bool) -> Visitor:
        """Ignore (agents report `ignored` once the next gallery is rolled out) or stop ignoring."""
        self.visitor(visitor_id)
        with self.hub_db.transaction() as db:
            db.execute("UPDATE visitors SET ignored = ?, pinned = 1 WHERE id = ?", [int(ignored), visitor_id])
            self.generation += 1
        return self.visitor(visitor_id)

    def remove(self, db: Store, visitor_id: str) -> tuple[int, list[str]]:
        """Inside the caller's transaction (a visitor's deletion, `hub.library.deletions`): the visitor with its
        tracks and templates. Returns the tracks removed and their crop files, for `unlink` once committed."""
        visitor = self.visitor(visitor_id)
        files = [
            r[0]
            for r in db.execute(
                """SELECT crop_file FROM ended_tracks WHERE visitor_id = ?
                                             AND crop_file IS NOT NULL""",
                [visitor_id],
            ).fetchall()
        ]
        db.execute("DELETE FROM ended_tracks WHERE visitor_id = ?", [visitor_id])
        db.execute("DELETE FROM visitors WHERE id = ?", [visitor_id])
        self.forget_centres(visitor.model_id)
        return visitor.tracks, files

    def remove_person(self, db: Store, person_id: str) -> list[str]:
        """Inside the caller's transaction (a person's deletion): the tracks agents named this person, with
        their suggestions. Returns their crop files, for `unlink` once that has committed."""
        files = [
            r[0]
            for r in db.execute(
                "SELECT crop_file FROM ended_tracks WHERE person_id = ? AND crop_file IS NOT NULL", [person_id]
            ).fetchall()
        ]
        db.execute(
            "DELETE FROM suggestions WHERE person_id = ? OR event_id IN (SELECT event_id FROM "
            "ended_tracks WHERE person_id = ?)",
            [person_id, person_id],
        )
        db.execute("DELETE FROM ended_tracks WHERE person_id = ?", [person_id])
        return files

    def unname(self, event_id: str) -> Visitor:
        """A named track that was not that person becomes unknown and joins (or founds) a visitor."""
        track = self.track(event_id)
        if track.person_id is None:
            raise VisitorError(f"track {event_id} is not named")
        template = self.template(event_id)
        with self.hub_db.transaction() as db:
            unknown = EndedTrack.model_validate(
                {**dict(track), "person_id": None, "ignored": False, "template": template, "crop_jpeg": None}
            )
            visitor_id = self._assign(db, unknown, budget=False)
            db.execute(
                "UPDATE ended_tracks SET person_id = NULL, visitor_id = ? WHERE event_id = ?", [visitor_id, event_id]
            )
            db.execute("DELETE FROM suggestions WHERE event_id = ?", [event_id])
            self.generation += 1
        self._join_centre(track.model_id, visitor_id, template)
        self.trim_crops(visitor_id)
        return self.visitor(visitor_id)


def _row(track: EndedTrack, visitor_id: str | None, crop_file: str | None) -> dict[str, object]:
    return {
        **track.model_dump(exclude={"crop_jpeg"}),
        "visitor_id": visitor_id,
        "template": track.template.astype("<f4").tobytes(),
        "crop_file": crop_file,
        "ignored": int(track.ignored),
        "received": now_iso(),
    }


def _visitor_sql(db: Store) -> str:
    return _VISITOR_SQL.format(cameras=db.distinct_list.format("t.device_id || '/' || t.camera"))


def _visitor(row: tuple[object, ...]) -> Visitor:
    cameras = tuple(sorted(str(row[8]).split(","))) if row[8] else ()
    return Visitor(
        id=str(row[0]),
        model_id=str(row[1]),
        ignored=bool(row[2]),
        pinned=bool(row[3]),
        created=str(row[4]),
        tracks=int(str(row[5])),
        first_seen=str(row[6]),
        last_seen=str(row[7]),
        cameras=cameras,
        crop_event_id=None if row[9] is None else str(row[9]),
    )
