"""One verdict per track: the open-set decision on the track's pooled template, with hysteresis.

The pooled template (`edge.recognize.pooling`) is matched against the gallery; the track is person P when P's best
template reaches `match_threshold` and beats the next person by `match_margin`. The threshold is one
number for "this is P", chosen for a stated false-accept rate on strangers (`facefleet eval lfw` prints the
open-set figures it comes from). Once named, a track keeps its name while its score stays within
`identity_hysteresis` of the threshold, so one poor frame does not flip it. Each embedding's own best match
is kept as evidence (`votes`, a bounded window), not as the rule. An unknown track whose template reaches the
threshold against an ignore entry of the gallery (an ignored visitor), and no enrolled person higher, is
`ignored` (with the same hysteresis).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from edge.config import RecognitionConfig

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """A track's identity. `person_id` None means unknown.

    confidence: cosine of the pooled template to the named person (unknown: to the best gallery match).
    votes: person id (or "unknown") -> embeddings of the recent window whose own best match it was.
    embeddings: embeddings pooled into the template so far.
    ignored: unknown, and matching an ignore entry of the gallery.
    """

    person_id: str | None
    name: str | None
    confidence: float
    votes: dict[str, int]
    confirmed: bool
    embeddings: int = 0
    ignored: bool = False


NOBODY = Identity(None, None, 0.0, {}, confirmed=False)


@dataclass(frozen=True)
class IdentityChange:
    changed: bool
    confirmed: bool


def decide(scores: np.ndarray, current: int, threshold: float, margin: float, hysteresis: float) -> int:
    """The open-set decision for one pooled template.

    Args:
        scores: (P,) cosine of the template to each gallery person's best template.
        current: index of the person the track is named now, -1 when unknown.
        threshold: cosine needed to name a person.
        margin: how far the best person must lead the runner-up to be named.
        hysteresis: how far below the threshold the current person may fall before the name is dropped.
    Returns:
        index of the person the track is now, -1 for unknown.
    """
    if len(scores) == 0:
        return -1
    order = np.argsort(-scores)
    best = int(order[0])
    runner_up = float(scores[order[1]]) if len(scores) > 1 else -1.0
    clear = scores[best] >= threshold and scores[best] - runner_up >= margin
    if 0 <= current < len(scores) and scores[current] >= threshold - hysteresis:
        if best == current or not clear or scores[best] - scores[current] < margin:
            return current
    return best if clear else -1


class TrackIdentity:
    """The identity of one track as its evidence grows: `update(...)` after each pooled embedding."""

    def __init__(self, config: RecognitionConfig) -> None:
        self.config = config
        self._votes: deque[str] = deque(maxlen=config.vote_window)
        self._streak = 0  # consecutive decisions for the current person
        self.identity = NOBODY

    def vote(self, person_id: str | None) -> None:
        """Record one embedding's own best match (None: below the threshold, or an empty gallery)."""
        self._votes.append(person_id or UNKNOWN)

    def update(self, scores: np.ndarray, person_ids: tuple[str, ...], names: tuple[str, ...],
               embeddings: int, ignore_score: float = -1.0) -> IdentityChange:
        """Decide again from the pooled template's (P,) person scores of the current gallery and its best
        cosine to the gallery's ignore entries (-1: none)."""
        cfg = self.config
        current = self.identity.person_id
        current_index = person_ids.index(current) if current in person_ids else -1
        chosen = decide(scores, current_index, cfg.match_threshold, cfg.match_margin, cfg.identity_hysteresis)
        person = person_ids[chosen] if chosen >= 0 else None
        ignored = person is None and self._ignored(ignore_score, float(scores.max()) if len(scores) else -1.0)
        changed = person != current or ignored != self.identity.ignored
        self._streak = 1 if changed else self._streak + 1
        was_confirmed = self.identity.confirmed and not changed
        confirmed = person is not None and (was_confirmed or self._streak >= cfg.confirm_embeddings)
        best = int(np.argmax(scores)) if len(scores) else -1
        confidence = float(scores[chosen if chosen >= 0 else best]) if best >= 0 else 0.0
        self.identity = Identity(person, names[chosen] if chosen >= 0 else None, confidence,
                                 dict(Counter(self._votes)), confirmed, embeddings, ignored)
        return IdentityChange(changed, confirmed and not was_confirmed)

    def _ignored(self, ignore_score: float, best_person: float) -> bool:
        """An ignore entry at the threshold (while ignored: within the hysteresis) and above every person."""
        cfg = self.config
        floor = cfg.match_threshold - (cfg.identity_hysteresis if self.identity.ignored else 0.0)
        return ignore_score >= floor and ignore_score > best_person
