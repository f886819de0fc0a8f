"""Suggested samples: the best crops of tracks named with a wide margin, offered as new samples of that person.

Enrollment photos rarely show a camera's light and angle; a track the agent named beyond doubt does. A
named track's crop is offered (state `pending`) only when every rule of `SuggestConfig` holds, judged
twice: by what the agent reported (its cosine to the person, the embeddings pooled, liveness, the names its
events ever carried and its votes) and by the hub's own library on the crop itself: the hub embeds the crop
(an aligned face) with its active model, and that embedding must reach the person at the agents'
`match_threshold` and put them first by `min_margin` over anyone else. The device's template is not used:
it is only a claim, while the crop is what gets enrolled (a device sending one person's template with
another man's crop must not get him enrolled as that person). Accepting runs the crop through the normal
enrollment path (its quality checks, duplicates and the per-person cap); nothing is added without a click
unless `auto_accept` is on, and then at most `auto_accept_per_day` per person per day.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
from pydantic import Field

from facefleet.wire import TrackEvent
from hub.db import HubDb, now_iso
from hub.errors import NotFoundError
from hub.library.library import Library
from hub.records import Record
from hub.settings import SuggestConfig
from hub.visitors.records import EndedTrack, VisitorError, crop_rgb
from models.pipeline import FacePipeline

SuggestionState = Literal["pending", "accepted", "rejected"]
_OTHER_VOTES_IGNORED = ("unknown",)


class Suggestion(Record):
    """A named track's crop offered as a sample of `person_id`."""

    event_id: str
    person_id: str
    person_name: str
    confidence: float = Field(description="the agent's cosine to the person")
    margin: float = Field(description="the hub's lead of this person over the next one")
    frames: int
    liveness: float | None
    sharpness: float
    device_id: str
    camera: str
    ended_at: str
    state: SuggestionState
    auto: bool
    detail: str
    created: str


class TrackNames:
    """Every name a live track's events carried, keyed by (device, camera, track id, start): bounded (oldest
    forgotten first), so a track whose start events were forgotten counts only its last events' names."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._names: OrderedDict[tuple[str, str, int, str], set[str]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    @staticmethod
    def _key(event: TrackEvent) -> tuple[str, str, int, str]:
        return event.device_id, event.camera, event.track_id, event.started_at.isoformat()

    def observe(self, event: TrackEvent) -> set[str]:
        """Record the event's name; at `track_ended` forget the track. Returns the names seen so far."""
        key = self._key(event)
        with self._lock:
            names = self._names.pop(key, set()) | ({event.person_id} if event.person_id else set())
            if event.type != "track_ended":
                self._names[key] = names
                if len(self._names) > self._capacity:
                    self._names.popitem(last=False)
        return names


def hub_lead(
    person_ids: np.ndarray, vectors: np.ndarray, vector: np.ndarray, person_id: str
) -> tuple[float, float] | None:
    """(the person's best sample cosine, their lead over everyone else's best) on a (D,) unit vector; None
    when someone else is first or the person has no sample. vectors: (K, D) of owners person_ids (K,)."""
    if len(vectors) == 0 or person_id not in set(person_ids.tolist()):
        return None
    cosines = vectors @ vector
    own = float(cosines[person_ids == person_id].max())
    others = cosines[person_ids != person_id]
    margin = own - (float(others.max()) if len(others) else 0.0)  # nobody else: lead over an unrelated face
    return (own, margin) if margin > 0 else None


def refusal(
    track: EndedTrack, votes: dict[str, int], names: set[str], rules: SuggestConfig, min_sharpness: float
) -> str | None:
    """Why a named track's crop is not offered, judged on what the agent reported; None when it may be (the
    hub's own margin is checked after this, since it reads the library)."""
    checks = (
        (names - {track.person_id} or set(votes) - {track.person_id, *_OTHER_VOTES_IGNORED}, "another name"),
        (track.confidence < rules.min_confidence, "agent cosine under min_confidence"),
        (track.frames < rules.min_frames, "fewer than min_frames embeddings"),
        (track.liveness is None or track.liveness < rules.min_liveness, "no natural motion"),
        (track.crop_jpeg is None or track.sharpness < min_sharpness, "crop missing or blurred"),
    )
    return next((why for failed, why in checks if failed), None)


class Suggestions:
    """The `suggestions` table: offer, list, decide, and the auto-accept budget."""

    def __init__(
        self,
        hub_db: HubDb,
        library: Library,
        rules: SuggestConfig,
        min_sharpness: float,
        match_threshold: float,
        pipeline: Callable[[], FacePipeline],
    ) -> None:
        """match_threshold: the agents' naming cosine, which the hub's embedding of the crop must reach;
        pipeline: the hub's active pipeline at the moment of asking (its embedder and its model's samples)."""
        self.hub_db = hub_db
        self.library = library
        self.rules = rules
        self.min_sharpness = min_sharpness
        self.match_threshold = match_threshold
        self.pipeline = pipeline

    def consider(self, track: EndedTrack, votes: dict[str, int], names: set[str]) -> str | None:
        """Offer a stored named track's crop when the rules hold; the refusal reason otherwise."""
        assert track.person_id is not None
        if why := refusal(track, votes, names, self.rules, self.min_sharpness):
            return why
        assert track.crop_jpeg is not None
        lead = self.hub_lead(track.crop_jpeg, track.person_id)
        if lead is None or lead[0] < self.match_threshold:
            return "hub cosine of the crop under match_threshold"
        margin = lead[1]
        if margin < self.rules.min_margin:
            return "hub margin under min_margin"
        with self.hub_db.transaction() as db:
            db.insert(
                "suggestions",
                {
                    "event_id": track.event_id,
                    "person_id": track.person_id,
                    "margin": margin,
                    "state": "pending",
                    "auto": 0,
                    "detail": "",
                    "created": now_iso(),
                    "decided": None,
                },
                ignore=True,
            )
            pending = db.execute(
                """SELECT s.event_id FROM suggestions s JOIN ended_tracks t ON t.event_id =
                                    s.event_id WHERE s.person_id = ? AND s.state = 'pending'
                                    ORDER BY t.confidence DESC""",
                [track.person_id],
            ).fetchall()
            db.executemany("DELETE FROM suggestions WHERE event_id = ?", pending[self.rules.max_pending_per_person :])
        return None

    def hub_lead(self, jpeg: bytes, person_id: str) -> tuple[float, float] | None:
        """`hub_lead` of the person on the hub's own embedding of a crop (active model); None when the crop
        does not decode, or someone else is first."""
        pipeline = self.pipeline()
        crop = crop_rgb(jpeg, pipeline.embedder.preprocess.size)
        if crop is None:
            return None
        found = self.library.embeddings(model_id=pipeline.model_id)
        return hub_lead(found.person_ids, found.vectors, pipeline.embedder.embed(crop[None])[0], person_id)

    def find(
        self, person_id: str | None = None, state: SuggestionState = "pending", limit: int = 100
    ) -> list[Suggestion]:
        """Suggestions in `state` (of one person), the agent's most confident first."""
        where, args = "s.state = ?", [str(state)]
        if person_id:
            where, args = where + " AND s.person_id = ?", [*args, person_id]
        return self._query(where, args, limit)

    def get(self, event_id: str) -> Suggestion:
        found = self._query("s.event_id = ?", [event_id], 1)
        if not found:
            raise NotFoundError(f"no suggestion {event_id} (or its person was deleted)")
        return found[0]

    def _query(self, where: str, args: list[str], limit: int) -> list[Suggestion]:
        sql = f"""SELECT s.event_id, s.person_id, p.name AS person_name, t.confidence, s.margin, t.frames, t.liveness,
                  t.sharpness, t.device_id, t.camera, t.ended_at, s.state, s.auto, s.detail, s.created
                  FROM suggestions s JOIN ended_tracks t ON t.event_id = s.event_id JOIN people p ON
                  p.id = s.person_id WHERE {where} ORDER BY t.confidence DESC LIMIT ?"""
        with self.hub_db.read() as db:
            return [Suggestion.model_validate(r) for r in db.query(sql, [*args, limit])]

    def pending(self, event_id: str) -> Suggestion:
        suggestion = self.get(event_id)
        if suggestion.state != "pending":
            raise VisitorError(f"suggestion {event_id} was {suggestion.state} already")
        return suggestion

    def decide(self, event_id: str, state: SuggestionState, auto: bool = False, detail: str = "") -> None:
        with self.hub_db.transaction() as db:
            db.execute(
                "UPDATE suggestions SET state = ?, auto = ?, detail = ?, decided = ? WHERE event_id = ?",
                [state, int(auto), detail[:200], now_iso(), event_id],
            )

    def auto_accepted_since(self, person_id: str, now: datetime) -> int:
        """Crops of this person auto-accepted in the 24 hours before `now`."""
        since = (now - timedelta(days=1)).isoformat()
        with self.hub_db.read() as db:
            return int(
                db.execute(
                    """SELECT COUNT(*) FROM suggestions WHERE person_id = ? AND auto = 1 AND
                                     state = 'accepted' AND decided >= ?""",
                    [person_id, since],
                ).fetchone()[0]
            )
