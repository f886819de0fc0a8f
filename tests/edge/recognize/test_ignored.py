"""The `ignored` outcome: an unknown track matching an ignore entry, and no enrolled person better."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import RecognitionConfig
from edge.recognize.identity import TrackIdentity
from edge.recognize.matching import TemplateMatch
from facefleet.openset import DecisionRule

PEOPLE = ("p1", "p2")
RULE = DecisionRule(threshold=0.45, margin=0.03, hysteresis=0.05, normalized=False)


def match(person_scores: tuple[float, float], ignore_score: float) -> TemplateMatch:
    scores = np.array(person_scores, np.float32)
    return TemplateMatch(scores, scores, scores, ignore_score)


@pytest.mark.parametrize(
    "person_scores, ignore_score, ignored, person",
    [
        ((0.2, 0.1), 0.6, True, None),  # unknown, like an ignored visitor
        ((0.2, 0.1), 0.4, False, None),  # under the threshold (0.45): plain unknown
        ((0.7, 0.1), 0.8, False, "p1"),  # an enrolled person is named even when an ignore entry scores higher
        ((0.5, 0.48), 0.49, False, None),  # no clear person (margin), but a person scores higher than the entry
        ((0.5, 0.48), 0.55, True, None),  # no clear person, and the entry is the best match
        ((0.2, 0.1), -np.inf, False, None),  # a gallery without ignore entries
    ],
)
def test_ignored_outcome(
    person_scores: tuple[float, float], ignore_score: float, ignored: bool, person: str | None
) -> None:
    identity = TrackIdentity(RecognitionConfig())
    identity.update(match(person_scores, ignore_score), RULE, PEOPLE, PEOPLE, 1)
    assert (identity.identity.ignored, identity.identity.person_id) == (ignored, person)


def test_ignored_has_hysteresis_and_is_an_identity_change() -> None:
    identity = TrackIdentity(RecognitionConfig())
    scores = (0.1, 0.0)
    assert identity.update(match(scores, 0.6), RULE, PEOPLE, PEOPLE, 1).changed
    assert not identity.update(match(scores, 0.42), RULE, PEOPLE, PEOPLE, 2).changed  # within the hysteresis
    assert identity.identity.ignored
    assert identity.update(match(scores, 0.3), RULE, PEOPLE, PEOPLE, 3).changed
    assert not identity.identity.ignored
