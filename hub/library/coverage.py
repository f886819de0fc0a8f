"""How well a person's samples cover them: the templates a gallery would keep for them, and what to add.

Agents match a face against each person's best template (`facefleet.gallery.person_templates`: the mean of
the samples plus the samples farthest from what is already kept, near-duplicates merged). A person enrolled
from one photo has one template and is matched well only in that pose and light: on the sitcom clip
(README, "Recognition on real video"; six people from ONE photo each) three of the four (shot, person) left
unknown were turned away or in profile, and on the Hamilton clip the pianist, enrolled from two photos,
stays unknown in full profile. Counting views by the gallery's own rule and defaults says what the agents
will really match against, so the advice says when to add photos.

Coverage is computed from the embeddings of the hub's active model, the ones a gallery is built from
(every sample has one: enrollment writes it, a model switch requires it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np
from pydantic import Field

from facefleet.gallery import person_templates
from hub.library.embeddings import SampleEmbeddings
from hub.records import Record

CoverageLevel = Literal["none", "one_view", "few_views", "good"]

GOOD_MIN_VIEWS = 4
"""Templates a well-covered person has at least: the mean and three distinct samples (a face turned each way
as well as towards the camera). Two photos can give at most three (the mean and both), so "good" asks for a
third distinct photo or a video in which the head turns."""

GOOD_MIN_SPREAD = 0.2
"""Spread (1 - the lowest cosine between two kept templates) a well-covered person has at least. Measured with
SFace on the shared photos: eight re-captures of one photo (scaled, lighter, darker, turned 6 degrees each
way, softer, shifted) leave a spread of 0-0.11 (6 photos); photos of one person on different occasions
0.22-0.46 in 19 of 20 sets (the five two-photo people of clips/people; the first 2, 3 and 4 LFW photos of
five people; the first two of George W. Bush are one view). Under 0.2 every template looks like one moment
(a video of a still face), however many the gallery keeps."""

ADVICE: dict[CoverageLevel, str] = {
    "none": "no photo: this person cannot be recognised; add photos or a short video",
    "one_view": "one view: expect weak recognition in profile and in other light; add photos from other "
    "angles or a short video",
    "few_views": "a few views: add a profile, photos in other light or a short video for better recall",
    "good": "several distinct views: nothing to add",
}


class Coverage(Record):
    samples: int = Field(description="samples with an embedding of the hub's active model")
    views: int = Field(
        description="templates a gallery keeps for the person (the mean and the samples farthest "
        "from it, near-duplicates merged; at most facefleet.gallery.MAX_TEMPLATES)"
    )
    spread: float = Field(
        description="1 - the lowest cosine between two of those templates: 0 for one view, "
        "mostly 0.2-0.5 for photos of different occasions, 0-0.11 for "
        "re-captures of one photo"
    )
    level: CoverageLevel = Field(description="none, one_view, few_views or good")
    advice: str = Field(description="what the level means for recognition and what to add")


NO_SAMPLES = Coverage(samples=0, views=0, spread=0.0, level="none", advice=ADVICE["none"])


def coverage_level(samples: int, views: int, spread: float) -> CoverageLevel:
    """The level of a person with `samples` embedded samples, `views` templates and their `spread` (module
    constants: why `GOOD_MIN_VIEWS` and `GOOD_MIN_SPREAD`)."""
    if samples == 0:
        return "none"
    if views == 1:  # one photo, or every sample within the gallery's duplicate cosine of their mean
        return "one_view"
    if views < GOOD_MIN_VIEWS or spread < GOOD_MIN_SPREAD:
        return "few_views"
    return "good"


def person_coverage(embeddings: np.ndarray) -> Coverage:
    """Coverage of one person from their sample embeddings (K, D) of one model, unit vectors; K may be 0 (any
    D, as `SampleEmbeddings` gives (0, 0))."""
    if len(embeddings) == 0:
        return NO_SAMPLES
    templates = person_templates(embeddings)  # (T, D), the gallery's own rule and defaults
    spread = float(1.0 - (templates @ templates.T).min()) if len(templates) > 1 else 0.0
    spread = round(max(spread, 0.0), 4)  # float32 noise: a template's cosine to itself can pass 1
    level = coverage_level(len(embeddings), len(templates), spread)
    return Coverage(samples=len(embeddings), views=len(templates), spread=spread, level=level, advice=ADVICE[level])


class CoverageCache:
    """Everyone's coverage from one read of the library, reusing what the last read worked out for people whose
    samples did not change: a sample's embedding by one model never changes, so the same model and the same
    samples give the same coverage (no write path needs to tell the cache anything). Thread-safe: each call
    builds a new table and swaps it in whole."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, ...], Coverage] = {}  # (model id, person id, sample ids...) -> coverage

    def of_everyone(self, found: SampleEmbeddings) -> dict[str, Coverage]:
        """Person id -> coverage, from embeddings of one model of the whole library; people without a sample
        are absent (theirs is `NO_SAMPLES`)."""
        rows: defaultdict[str, list[int]] = defaultdict(list)
        for row, person_id in enumerate(found.person_ids):
            rows[str(person_id)].append(row)
        previous, known = self._known, {}
        for person_id, index in rows.items():
            key = (found.model_id, person_id, *(found.sample_ids[i] for i in index))
            known[key] = previous[key] if key in previous else person_coverage(found.vectors[index])
        self._known = known  # people deleted or changed since are forgotten
        return {key[1]: coverage for key, coverage in known.items()}
