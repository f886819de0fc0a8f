"""Memory of who was just seen, per camera: a track named with a clear margin lends its pooled template to
its person for a while, so the same person after the next cut, or back in the room, matches a template of
this camera's light and angle instead of only the enrollment photos.

Wrong names must not spread, so a template is lent only by a track that the gallery alone named, with a lead
of at least `lend_margin_z` over the runner-up, confirmed, never contested (`edge.recognize.identity`), and
from `min_embeddings` embeddings or more. A track named thanks to a lent template never lends in turn: a
single wrong decision can mislead the tracks that match its template until it expires, never start a chain.
Lent templates count as templates a stranger could match, so the naming threshold rises with them
(`edge.recognize.matching`). Bounded: `per_person` templates a person (the newest), `max_templates` in
all, each for `ttl_s` seconds of camera time. A person no longer in the gallery (deleted) loses theirs at
the next lookup; a model change empties the memory (other embeddings).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from edge.config import MemoryConfig


@dataclass(frozen=True)
class LentTemplate:
    """person_id's (D,) unit template, lent by `track_id` at camera time `lent_at`."""

    person_id: str
    template: np.ndarray
    lent_at: datetime
    track_id: int


class SightingMemory:
    """The templates one camera's tracks lent: `lend` at a track's end, `person_cosines` per decision."""

    def __init__(self, config: MemoryConfig) -> None:
        self.config = config
        self.model_id = ""
        self._lent: deque[LentTemplate] = deque()  # oldest first

    def __len__(self) -> int:
        return len(self._lent)

    def lend(self, person_id: str, template: np.ndarray, ts: datetime, track_id: int) -> None:
        """Keep `template` for `person_id` (the caller checked that the track may lend)."""
        if not self.config.enabled:
            return
        self._lent.append(LentTemplate(person_id, template.astype(np.float32).copy(), ts, track_id))
        own = [entry for entry in self._lent if entry.person_id == person_id]
        for stale in own[: -self.config.per_person]:
            self._lent.remove(stale)
        while len(self._lent) > self.config.max_templates:
            self._lent.popleft()

    def refresh(self, ts: datetime, model_id: str, person_ids: tuple[str, ...]) -> None:
        """Drop what expired by camera time `ts`, everything after a model change, and the templates of people
        no longer in the gallery."""
        if model_id != self.model_id:
            self._lent.clear()
            self.model_id = model_id
        oldest = ts - timedelta(seconds=self.config.ttl_s)
        people = set(person_ids)
        self._lent = deque(e for e in self._lent if e.lent_at >= oldest and e.person_id in people)

    def person_cosines(self, template: np.ndarray, person_ids: tuple[str, ...]) -> np.ndarray | None:
        """(D,) unit template -> (P,) its best cosine to each person's lent templates (-1 where none), or
        None when nothing is lent."""
        if not self._lent:
            return None
        index = {p: i for i, p in enumerate(person_ids)}
        cosines = np.full(len(person_ids), -1.0, np.float32)
        for entry in self._lent:
            i = index.get(entry.person_id)
            if i is not None:
                cosines[i] = max(cosines[i], float(entry.template @ template))
        return cosines
