"""The open-set decision: is this face one of the gallery's people, and who, or nobody we know?

Scores are cosines normalised against an impostor cohort (T-norm, the standard tool of open-set face and
speaker verification): the cosines of a probe to K faces of people who are in no gallery give that probe's
own impostor mean and spread, and a gallery score becomes a z-score, z = (cosine - mean) / spread. A probe
that resembles everybody (a blurred face, a child's face to an adult-trained embedder) is held to a higher
cosine, one that resembles nobody to a lower one.

Why a z-score: on LFW (SFace, a cohort of 1,000 people outside pairs.txt, 3,369 strangers against 1,018
gallery photos), strangers' z-scores follow the standard normal to 4 sigma: the share at or above 3, 3.5
and 4 is 1.3e-3, 2.2e-4 and 3.8e-5 (Gaussian: 1.3e-3, 2.3e-4, 3.2e-5), and stays so when a stranger's
template pools 2 or 4 photos (raw cosines drift up as templates pool, z-scores do not). So the threshold for
a stated false-accept rate follows from the gallery instead of being fitted to it:

    z >= Phi^-1(1 - far / (looks * templates))

- templates: every template a stranger can match (a person with 8 templates offers 8 chances; on LFW the
  best of 2 and 5 photos of one person passed 0.7-0.85 times as often as 2 and 5 separate people);
- looks: a track is decided again after each embedding it pools. A stranger's template decided after each
  of 16 LFW photos in turn crossed a threshold 2.2-3.2 times as often as one decision (181 people); video
  frames of one track are more alike than separate photos, so `SEQUENTIAL_LOOKS` = 3 bounds it.

A gallery without a cohort (written before cohorts, or by a hub without one) is judged on raw cosines at a
fixed threshold, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

SEQUENTIAL_LOOKS = 3.0
MIN_COHORT = 100  # fewer faces than this give a spread too uncertain to normalise with
_MIN_SPREAD = 1e-3


@dataclass(frozen=True)
class DecisionRule:
    """Threshold, margin and hysteresis in the units of the scores they judge (z-scores, or cosines for a
    gallery without a cohort)."""

    threshold: float
    margin: float
    hysteresis: float
    normalized: bool


def naming_z(templates: int, stranger_track_far: float, looks: float = SEQUENTIAL_LOOKS) -> float:
    """The z-score a track's best template must reach so that a stranger's track is named with probability
    at most `stranger_track_far` (see the module docstring).

    Args:
        templates: templates a stranger could match (gallery templates and any borrowed ones), >= 1.
        stranger_track_far: false accepts per stranger track, in (0, 1).
        looks: decisions per track, in independent-decision equivalents.
    """
    if not 0.0 < stranger_track_far < 1.0:
        raise ValueError("stranger_track_far must lie in (0, 1)")
    per_template = stranger_track_far / (looks * max(templates, 1))
    return float(NormalDist().inv_cdf(1.0 - per_template))


def cohort_stats(embeddings: np.ndarray, cohort: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) unit probes and (K, D) unit cohort faces -> (N,) mean and (N,) spread of each probe's cosines
    to the cohort: its impostor distribution."""
    cosines = embeddings.astype(np.float32) @ cohort.T  # (N, K)
    mean: np.ndarray = cosines.mean(axis=1)
    spread: np.ndarray = np.maximum(cosines.std(axis=1), _MIN_SPREAD)
    return mean, spread


def standardize(scores: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(N, P) cosines of N probes, their (N,) cohort mean and spread -> (N, P) z-scores."""
    z: np.ndarray = ((scores - mean[:, None]) / spread[:, None]).astype(np.float32)
    return z


def decide(scores: np.ndarray, current: int, rule: DecisionRule) -> int:
    """The open-set decision for one template.

    Args:
        scores: (P,) score of the template to each person (their best template).
        current: index of the person the track is named now, -1 when unknown.
        rule: the threshold to name a person, how far the best must lead the runner-up (two similar
            enrolled people), how far below the threshold the current name may fall before it is dropped.
    Returns:
        index of the person the track is now, -1 for unknown.
    """
    if len(scores) == 0:
        return -1
    order = np.argsort(-scores)
    best = int(order[0])
    runner_up = float(scores[order[1]]) if len(scores) > 1 else -np.inf
    clear = scores[best] >= rule.threshold and scores[best] - runner_up >= rule.margin
    if 0 <= current < len(scores) and scores[current] >= rule.threshold - rule.hysteresis:
        if best == current or not clear or scores[best] - scores[current] < rule.margin:
            return current
    return best if clear else -1
