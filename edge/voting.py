"""Per-track identity from many noisy matches: votes over a bounded window of embedded samples.

Each embedded sample votes for the gallery person it matches best if the cosine reaches
`match_threshold`, else for "unknown". The leader of the window is the track's identity once it has
`change_votes` votes and a majority (hysteresis: one odd frame does not flip a track); it is confirmed
once it has `confirm_votes` and `confirm_share` of the window.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from edge.config import RecognitionConfig

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """The voted identity of a track: `person_id` None means unknown."""

    person_id: str | None
    name: str | None
    confidence: float
    votes: dict[str, int]
    confirmed: bool


@dataclass(frozen=True)
class VoteChange:
    """What one sample did: `changed` when the identity switched, `confirmed` when it became confirmed."""

    changed: bool
    confirmed: bool


class TrackVotes:
    """Bounded vote window of one track. `add(person_id, name, cosine)` per embedded sample."""

    def __init__(self, config: RecognitionConfig) -> None:
        self.config = config
        self._window: deque[tuple[str, float]] = deque(maxlen=config.window_frames)
        self._names: dict[str, str] = {}
        self.samples = 0
        self.identity = Identity(None, None, 0.0, {}, confirmed=False)

    def add(self, person_id: str | None, name: str | None, cosine: float) -> VoteChange:
        """Record one sample; `person_id` is the best gallery match (None for an empty gallery)."""
        key = person_id if person_id is not None and cosine >= self.config.match_threshold else UNKNOWN
        if key != UNKNOWN and name is not None:
            self._names[key] = name
        self._window.append((key, float(cosine)))
        self.samples += 1
        return self._revote()

    def _revote(self) -> VoteChange:
        counts = Counter(k for k, _ in self._window)
        leader, votes = counts.most_common(1)[0]
        share = votes / len(self._window)
        current = self.identity.person_id or UNKNOWN
        changed = leader != current and votes >= self.config.change_votes and share > 0.5
        if leader != current and not changed:
            leader = current  # not enough evidence to switch yet: keep the current identity
        leader_votes = counts.get(leader, 0)
        confirmed = (leader_votes >= self.config.confirm_votes
                     and leader_votes / len(self._window) >= self.config.confirm_share)
        was_confirmed = self.identity.confirmed and not changed
        cosines = [c for k, c in self._window if k == leader]
        person = None if leader == UNKNOWN else leader
        self.identity = Identity(person, self._names.get(leader) if person else None,
                                 sum(cosines) / len(cosines) if cosines else 0.0, dict(counts),
                                 confirmed=confirmed or was_confirmed)
        return VoteChange(changed=changed, confirmed=confirmed and not was_confirmed)
