"""The open-set rule: a threshold that follows the gallery, z-scores against a cohort, the decision, and the
gallery file that carries the cohort (schema 3)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from facefleet.gallery import Gallery, build_gallery
from facefleet.openset import MIN_COHORT, SEQUENTIAL_LOOKS, DecisionRule, cohort_stats, decide, naming_z, standardize

DIM = 128


def random_unit(count: int, seed: int) -> np.ndarray:
    """Random directions in 128-d: cosines between them spread like strangers' (sd 1 / sqrt(128) = 0.088)."""
    v = np.random.default_rng(seed).normal(size=(count, DIM)).astype(np.float32)
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


@pytest.mark.parametrize(
    ("templates", "far", "expected"),
    [
        (6, 1e-3, NormalDist().inv_cdf(1 - 1e-3 / (3 * 6))),  # a household from one photo each: 3.86
        (30, 1e-3, NormalDist().inv_cdf(1 - 1e-3 / (3 * 30))),  # a small office: 4.24
        (800, 1e-3, NormalDist().inv_cdf(1 - 1e-3 / (3 * 800))),  # 100 people with 8 templates each: 4.93
        (6, 1e-2, NormalDist().inv_cdf(1 - 1e-2 / (3 * 6))),  # a looser target, the same gallery: lower
        (0, 1e-3, NormalDist().inv_cdf(1 - 1e-3 / 3)),  # an empty gallery counts as one template
    ],
)
def test_naming_z_follows_the_gallery(templates: int, far: float, expected: float) -> None:
    assert naming_z(templates, far) == pytest.approx(expected)


def test_naming_z_rises_with_templates_and_falls_with_the_target() -> None:
    sizes = [naming_z(t, 1e-3) for t in (1, 6, 30, 100, 1000, 10_000)]
    assert sizes == sorted(sizes) and 3.0 < sizes[0] and sizes[-1] < 6.5
    assert naming_z(30, 1e-2) < naming_z(30, 1e-3) < naming_z(30, 1e-4)
    with pytest.raises(ValueError, match="stranger_track_far"):
        naming_z(6, 0.0)


@pytest.mark.parametrize("people", [5, 30, 100])
def test_the_threshold_holds_the_stated_rate_for_any_gallery_size(people: int) -> None:
    """Strangers' best z-scores against galleries of 5, 30 and 100 random people: the share named is the
    stated rate (one look per stranger here), whatever the gallery's size."""
    gallery, cohort, strangers = random_unit(people, 1), random_unit(1000, 2), random_unit(40_000, 3)
    mean, spread = cohort_stats(strangers, cohort)
    best = standardize(strangers @ gallery.T, mean, spread).max(axis=1)
    far = 0.02
    named = float((best >= naming_z(people, far, looks=1.0)).mean())
    assert named == pytest.approx(far, abs=0.004)


def test_cohort_stats_give_each_probe_its_own_scale() -> None:
    mean_face = random_unit(1, 4)
    cohort = random_unit(500, 5) + 0.6 * mean_face
    cohort /= np.linalg.norm(cohort, axis=1, keepdims=True)
    plain = random_unit(1, 6)
    like_everybody = plain + 2.0 * mean_face  # e.g. a blurred face: close to the mean face
    like_everybody /= np.linalg.norm(like_everybody)
    mean, spread = cohort_stats(np.concatenate([plain, like_everybody]), cohort)
    assert abs(mean[0]) < 0.1 and mean[1] > 0.3, "a face that resembles everyone has a high impostor mean"
    z = standardize(np.array([[0.5], [0.5]], np.float32), mean, spread)
    assert z[0, 0] > z[1, 0] + 2, "the same cosine says less for that face"


def test_one_embedding_and_many_pooled_are_held_to_the_same_z() -> None:
    """Pooling a stranger's embeddings raises raw cosines to a gallery (their template moves towards the
    population's mean face) but not z-scores, which is why the rule needs no per-evidence threshold."""
    cohort, gallery = random_unit(1000, 6), random_unit(50, 7)
    mean_face = random_unit(1, 8)[0]
    identities = random_unit(3000, 9) + 0.8 * mean_face  # strangers sharing a mean face with everybody
    faces = [(identities + 0.9 * random_unit(3000, 10 + k)) for k in range(8)]
    gallery = (gallery + 0.8 * mean_face) / np.linalg.norm(gallery + 0.8 * mean_face, axis=1, keepdims=True)
    cohort = (cohort + 0.8 * mean_face) / np.linalg.norm(cohort + 0.8 * mean_face, axis=1, keepdims=True)
    raw_means, z_tails = [], []
    for count in (1, 8):
        pooled = np.sum(faces[:count], axis=0)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        raw = pooled @ gallery.T
        mean, spread = cohort_stats(pooled, cohort)
        raw_means.append(float(raw.mean()))
        z_tails.append(float((standardize(raw, mean, spread) >= 2.5).mean()))
    assert raw_means[1] > raw_means[0] + 0.02, "pooled templates score higher raw cosines"
    assert z_tails[0] == pytest.approx(z_tails[1], rel=0.25), "their z-scores' tail stays put"


RAW = DecisionRule(threshold=0.45, margin=0.03, hysteresis=0.05, normalized=False)
Z = DecisionRule(threshold=3.9, margin=1.0, hysteresis=0.5, normalized=True)


@pytest.mark.parametrize(
    ("rule", "scores", "current", "expected"),
    [
        (RAW, [], -1, -1),  # empty gallery: unknown
        (RAW, [0.30, 0.20], -1, -1),  # nobody reaches the threshold
        (RAW, [0.50, 0.20], -1, 0),  # a clear match
        (RAW, [0.50, 0.49], -1, -1),  # two people nearly tied: not named
        (RAW, [0.42, 0.20], 0, 0),  # named, dipped below the threshold but within the hysteresis: kept
        (RAW, [0.38, 0.20], 0, -1),  # fell through the hysteresis: unknown again
        (RAW, [0.47, 0.60], 0, 1),  # someone else is now clearly better: the name changes
        (RAW, [0.47, 0.48], 0, 0),  # someone else barely better: keep the current name
        (RAW, [0.46], -1, 0),  # a gallery of one: no runner-up to lead
        (Z, [4.2, 1.0, 0.3], -1, 0),  # z-scores: a clear match
        (Z, [4.2, 3.5, 0.3], -1, -1),  # two siblings both far above strangers: neither is named
        (Z, [3.6, 0.5], 0, 0),  # within the hysteresis
        (Z, [3.3, 0.5], 0, -1),  # through it
        (Z, [-0.5], -1, -1),  # a gallery of one, far below
    ],
)
def test_decide(rule: DecisionRule, scores: list[float], current: int, expected: int) -> None:
    assert decide(np.array(scores, np.float32), current, rule) == expected


def test_the_cohort_travels_in_the_gallery_file_and_older_files_read_without(tmp_path: Path) -> None:
    samples, cohort = random_unit(4, 11), random_unit(MIN_COHORT, 12)
    gallery = build_gallery("1", "sface", ["a", "b"], ["A", "B"], samples, np.array([0, 0, 1, 1]), cohort=cohort)
    gallery.write(tmp_path / "g.sqlite")
    loaded = Gallery.load(tmp_path / "g.sqlite")
    assert loaded.has_cohort and np.allclose(loaded.cohort, cohort)
    probe = samples[:1]
    scores = loaded.person_scores(probe)
    mean, spread = cohort_stats(probe, cohort)
    assert np.allclose(loaded.standardize(probe, scores), standardize(scores, mean, spread))
    with sqlite3.connect(tmp_path / "g.sqlite") as db:  # a schema 2 file: no cohort table
        db.execute("DROP TABLE cohort")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    db.close()
    old = Gallery.load(tmp_path / "g.sqlite")
    assert not old.has_cohort and np.array_equal(old.standardize(probe, scores), scores), "cosines as they are"


def test_a_cohort_too_small_to_estimate_a_spread_is_not_used() -> None:
    samples = random_unit(2, 13)
    small = build_gallery("1", "m", ["a"], ["A"], samples, np.array([0, 0]), cohort=random_unit(MIN_COHORT - 1, 14))
    assert not small.has_cohort


def test_sequential_looks_is_documented_as_measured() -> None:
    assert 2.0 <= SEQUENTIAL_LOOKS <= 3.5
