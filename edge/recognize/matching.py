"""A template's scores for the open-set decision: against the gallery's people, the templates the camera's
recent tracks lent them (`edge.recognize.memory`), and the gallery's ignore entries.

With a cohort in the gallery the scores are z-scores (`facefleet.openset`) and the rule's threshold follows
from the number of templates a stranger could match, lent ones included, and `stranger_track_far`. Without
one (a gallery written before cohorts) they are cosines judged at the fixed `match_threshold`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import RecognitionConfig
from facefleet.gallery import Gallery
from facefleet.openset import DecisionRule, naming_z


@dataclass(frozen=True)
class TemplateMatch:
    """N = 1 template against P people.

    scores: (P,) decision scores (z-scores, or cosines without a cohort) of each person's best template,
        the gallery's and the lent ones together.
    gallery_scores: (P,) the same from the gallery's templates alone.
    cosines: (P,) cosine of each person's best template, lent ones included (-1: none).
    ignore_score: the best ignore entry's score in the units of `scores` (-inf: no ignore entries).
    """

    scores: np.ndarray
    gallery_scores: np.ndarray
    cosines: np.ndarray
    ignore_score: float


def decision_rule(gallery: Gallery, lent_templates: int, config: RecognitionConfig) -> DecisionRule:
    """The rule for templates scored against `gallery` plus `lent_templates` lent ones."""
    if gallery.has_cohort:
        threshold = naming_z(len(gallery.templates) + lent_templates, config.stranger_track_far)
        return DecisionRule(threshold, config.match_margin_z, config.identity_hysteresis_z, normalized=True)
    return DecisionRule(config.match_threshold, config.match_margin, config.identity_hysteresis, normalized=False)


def match_template(template: np.ndarray, gallery: Gallery, lent_cosines: np.ndarray | None = None) -> TemplateMatch:
    """Scores of one (D,) unit template; `lent_cosines` (P,): its best cosine to each person's lent templates
    (-1 where a person has none), or None."""
    probe = template[None].astype(np.float32)
    own = gallery.person_scores(probe)[0]
    cosines = own if lent_cosines is None else np.maximum(own, lent_cosines)
    ignore = gallery.ignore_scores(probe)
    table = gallery.standardize(probe, np.concatenate([own, cosines, ignore])[None])[0]
    p = len(own)
    has_ignores = len(gallery.ignores.templates) > 0
    return TemplateMatch(table[p : 2 * p], table[:p], cosines, float(table[2 * p]) if has_ignores else -np.inf)


def embedding_matches(embeddings: np.ndarray, gallery: Gallery, rule: DecisionRule) -> np.ndarray:
    """(K, D) unit embeddings -> (K,) index of each one's best gallery person when that person's score
    reaches the rule's threshold, else -1 (the per-embedding `votes`)."""
    scores = gallery.standardize(embeddings, gallery.person_scores(embeddings))
    if scores.shape[1] == 0:
        return np.full(len(embeddings), -1, np.int64)
    best = scores.argmax(axis=1)
    reached = scores[np.arange(len(best)), best] >= rule.threshold
    matched: np.ndarray = np.where(reached, best, -1).astype(np.int64)
    return matched
