"""One verdict per track: the open-set decision on the track's pooled template, with hysteresis.

The pooled template (`edge.recognize.pooling`) is scored against the gallery (and against the templates the
camera's recent tracks lent, `edge.recognize.memory`) by `edge.recognize.matching`: z-scores against the
gallery's impostor cohort, so that the threshold holds a stated false-accept rate per stranger track for the
gallery at hand (`facefleet.openset`). The track is person P when P's score reaches the threshold and beats
the next person by the margin; once named, it keeps the name while its score stays within the hysteresis of
the threshold, so one poor frame does not flip it. Each embedding's own best match is kept as evidence
(`votes`, a bounded window), not as the rule. An unknown track whose template reaches the threshold against
an ignore entry of the gallery (an ignored visitor), and no enrolled person higher, is `ignored` (with the
same hysteresis).

A track's name is `contested` once the evidence wavered: two people were within the margin of each other
above the threshold, or the name changed or was dropped. It is `borrowed` once a decision named someone
only thanks to a lent template. Only a track that is neither lends its template (`edge.recognize.memory`).
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np

from edge.config import RecognitionConfig
from edge.recognize.matching import TemplateMatch
from facefleet.openset import DecisionRule, decide

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identity:
    """A track's identity. `person_id` None means unknown.

    confidence: cosine of the pooled template to the named person (unknown: to the best gallery match).
    votes: person id (or "unknown") -> embeddings of the recent window whose own best match it was.
    frames: frames embedded and pooled into the template so far (`TrackEvent.frames` on the wire).
    ignored: unknown, and matching an ignore entry of the gallery.
    """

    person_id: str | None
    name: str | None
    confidence: float
    votes: dict[str, int]
    confirmed: bool
    frames: int = 0
    ignored: bool = False


NOBODY = Identity(None, None, 0.0, {}, confirmed=False)


@dataclass(frozen=True)
class IdentityChange:
    changed: bool
    confirmed: bool


class TrackIdentity:
    """The identity of one track as its evidence grows: `update(...)` after each pooled embedding."""

    def __init__(self, config: RecognitionConfig) -> None:
        self.config = config
        self._votes: deque[str] = deque(maxlen=config.vote_window)
        self._streak = 0  # consecutive decisions for the current person
        self.identity = NOBODY
        self.contested = False
        self.borrowed = False
        self.lead = 0.0  # the named person's lead over the runner-up at the last decision (gallery alone)

    def vote(self, person_id: str | None) -> None:
        """Record one embedding's own best match (None: below the threshold, or an empty gallery)."""
        self._votes.append(person_id or UNKNOWN)

    def update(
        self, match: TemplateMatch, rule: DecisionRule, person_ids: tuple[str, ...], names: tuple[str, ...], frames: int
    ) -> IdentityChange:
        """Decide again from the pooled template's scores against the current gallery (and lent templates)."""
        current = self.identity.person_id
        current_index = person_ids.index(current) if current in person_ids else -1
        chosen = decide(match.scores, current_index, rule)
        person = person_ids[chosen] if chosen >= 0 else None
        ignored = person is None and self._ignored(match, rule)
        self._note_evidence(match, rule, chosen, current_index)
        changed = person != current or ignored != self.identity.ignored
        self._streak = 1 if changed else self._streak + 1
        was_confirmed = self.identity.confirmed and not changed
        confirmed = person is not None and (was_confirmed or self._streak >= self.config.confirm_embeddings)
        best = int(np.argmax(match.cosines)) if len(match.cosines) else -1
        confidence = float(match.cosines[chosen if chosen >= 0 else best]) if best >= 0 else 0.0
        self.identity = Identity(
            person,
            names[chosen] if chosen >= 0 else None,
            confidence,
            dict(Counter(self._votes)),
            confirmed,
            frames,
            ignored,
        )
        return IdentityChange(changed, confirmed and not was_confirmed)

    def _note_evidence(self, match: TemplateMatch, rule: DecisionRule, chosen: int, current: int) -> None:
        """Whether this decision contests the name, borrows it, and the gallery's lead for the chosen one."""
        scores = match.scores
        top = np.sort(scores)[::-1] if len(scores) else scores
        if len(top) > 1 and top[1] >= rule.threshold - rule.hysteresis and top[0] - top[1] < rule.margin:
            self.contested = True  # two people both about as likely
        if current >= 0 and chosen != current:
            self.contested = True  # the name changed or was dropped
        if chosen >= 0 and decide(match.gallery_scores, current, rule) != chosen:
            self.borrowed = True  # the gallery alone would not have named this person
        others = np.delete(match.gallery_scores, chosen) if chosen >= 0 else match.gallery_scores
        self.lead = (
            float(match.gallery_scores[chosen] - (others.max() if len(others) else -np.inf)) if chosen >= 0 else 0.0
        )

    def _ignored(self, match: TemplateMatch, rule: DecisionRule) -> bool:
        """An ignore entry at the threshold (while ignored: within the hysteresis) and above every person."""
        floor = rule.threshold - (rule.hysteresis if self.identity.ignored else 0.0)
        best_person = float(match.scores.max()) if len(match.scores) else -np.inf
        return match.ignore_score >= floor and match.ignore_score > best_person
