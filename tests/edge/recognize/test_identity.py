"""The recognition core's maths on small tables: shot cuts, the appearance gate, pooling, a track's identity
and gallery matching (the open-set rule itself: tests/facefleet/test_openset.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import RecognitionConfig
from edge.recognize.identity import TrackIdentity
from edge.recognize.matching import TemplateMatch
from edge.recognize.pooling import PooledTemplate, appearance_verdict, pool_weight
from facefleet.gallery import Gallery, person_templates
from facefleet.openset import DecisionRule
from models.detect.shotcut import ShotCutDetector, colour_histogram, histogram_distance


def unit(*values: float) -> np.ndarray:
    v = np.array(values, np.float32)
    return v / np.linalg.norm(v)


def frame(bgr: tuple[int, int, int], noise: int = 0, seed: int = 0) -> np.ndarray:
    image = np.full((90, 160, 3), bgr, np.int16)
    if noise:
        image += np.random.default_rng(seed).integers(-noise, noise + 1, image.shape, dtype=np.int16)
    return np.clip(image, 0, 255).astype(np.uint8)


# -- shot cuts --------------------------------------------------------------------------------------------


def test_histogram_distance_bounds() -> None:
    a, b = colour_histogram(frame((200, 30, 30))), colour_histogram(frame((30, 30, 200)))
    assert histogram_distance(a, a) == 0.0
    assert histogram_distance(a, b) == pytest.approx(1.0), "no colour in common"


@pytest.mark.parametrize(
    ("frames", "cuts"),
    [
        # one shot with sensor noise: never a cut
        ([frame((90, 120, 150), 12, seed=i) for i in range(8)], []),
        # a hard cut from a blue scene to a red one at frame 4
        (
            [frame((200, 40, 40), 8, seed=i) for i in range(4)] + [frame((40, 40, 200), 8, seed=i) for i in range(4)],
            [4],
        ),
        # the first frame is never a cut, whatever it looks like
        ([frame((0, 255, 0))], []),
    ],
)
def test_shot_cuts(frames: list[np.ndarray], cuts: list[int]) -> None:
    detector = ShotCutDetector(threshold=0.3, ratio=3.0)
    assert [i for i, f in enumerate(frames) if detector.update(f)] == cuts


def test_a_scene_that_always_changes_a_lot_needs_a_bigger_change_to_cut() -> None:
    colours = [(200, 40, 40), (150, 90, 40)] * 6  # flicker between two palettes every frame
    detector = ShotCutDetector(threshold=0.3, ratio=3.0)
    flagged = [detector.update(frame(c)) for c in colours]
    assert not any(flagged[4:]), "once the flicker is the usual change, it is not a cut"


# -- pooling and the appearance gate ----------------------------------------------------------------------


def test_pooled_template_is_the_weighted_mean_direction() -> None:
    template = PooledTemplate(2)
    assert template.empty and not template.vector.any()
    template.add(unit(1, 0), 3.0)
    template.add(unit(0, 1), 1.0)
    np.testing.assert_allclose(template.vector, unit(3, 1), atol=1e-6)
    assert template.count == 2 and template.best_weight == 3.0


def test_pool_weight_is_quality_times_norm() -> None:
    np.testing.assert_allclose(pool_weight(np.array([0.5, 1.0]), np.array([10.0, 4.0])), [5.0, 4.0])


@pytest.mark.parametrize(
    ("cosine", "weight", "pooled", "vouch", "verdict"),
    [
        (0.1, 5.0, [], False, "pool"),  # empty track: the first embedding always pools
        (0.8, 5.0, [5.0], False, "pool"),  # the same face
        (0.3, 5.0, [5.0], False, "pool"),  # exactly at the gate counts as the same face
        # the boxes do not vouch (low overlap, a suspected cut): a face that looks different is someone else
        (0.1, 5.0, [5.0], False, "split"),
        (0.1, 20.0, [5.0], False, "split"),  # a far better crop that disagrees is still someone else
        (0.1, 1.0, [5.0], False, "split"),  # a poor crop cannot vouch for itself either
        # the boxes vouch (the same head moving on): a face that looks different has turned
        (0.1, 5.0, [5.0], True, "pool"),  # as good a view as the template's: pooled, the track goes on
        (0.1, 1.0, [5.0], True, "outlier"),  # a far poorer crop (a glance to profile): kept, not pooled
    ],
)
def test_appearance_verdict(cosine: float, weight: float, pooled: list[float], vouch: bool, verdict: str) -> None:
    template = PooledTemplate(2)
    for w in pooled:
        template.add(unit(1, 0), w)
    assert appearance_verdict(cosine, weight, template, gate=0.3, boxes_vouch=vouch) == verdict


def test_a_suspected_cut_is_flagged_but_does_not_cut() -> None:
    """A change of 0.19 that stands out from a steady scene (the sitcom's cut between two shots of one kitchen)."""
    base = np.full((90, 160, 3), (60, 90, 120), np.uint8)
    other = base.copy()
    other[:, :40] = (20, 160, 40)  # a quarter of the frame turns another colour
    detector = ShotCutDetector(threshold=0.3, ratio=3.0)
    flags = [(detector.update(f), detector.suspected) for f in [base] * 5 + [other, other]]
    assert flags[5] == (False, True), "suspected, not cut"
    assert flags[6] == (False, False), "the next frame of the new picture is neither"
    assert not any(s for _, s in flags[:5])


# -- the track's identity ----------------------------------------------------------------------------------

RAW = DecisionRule(threshold=0.45, margin=0.03, hysteresis=0.05, normalized=False)


def match(*scores: float, gallery: tuple[float, ...] | None = None) -> TemplateMatch:
    """A template's scores (cosines here: RAW); `gallery`: the gallery's own when lent templates differ."""
    values = np.array(scores, np.float32)
    own = values if gallery is None else np.array(gallery, np.float32)
    return TemplateMatch(values, own, values, -np.inf)


def test_track_identity_names_confirms_and_votes() -> None:
    config = RecognitionConfig(confirm_embeddings=3, vote_window=4)
    track = TrackIdentity(config)
    ids, names = ("ann", "bob"), ("Ann", "Bob")
    assert not track.update(match(0.2, 0.1), RAW, ids, names, 1).changed, "unknown stays unknown: no change"
    change = track.update(match(0.6, 0.1), RAW, ids, names, 2)
    assert change.changed and not change.confirmed and track.identity.name == "Ann"
    assert not track.update(match(0.6, 0.1), RAW, ids, names, 3).confirmed
    assert track.update(match(0.6, 0.1), RAW, ids, names, 4).confirmed and track.identity.confirmed
    for person in ("ann", None, "ann", "ann", None):
        track.vote(person)
    track.update(match(0.6, 0.1), RAW, ids, names, 5)
    assert track.identity.votes == {"unknown": 2, "ann": 2}, "the last 4 votes only"
    assert track.identity.confidence == pytest.approx(0.6) and track.identity.frames == 5
    assert not track.contested and not track.borrowed and track.lead == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("sequence", "contested"),
    [
        ([(0.6, 0.1)] * 3, False),  # named at once and held
        ([(0.2, 0.1), (0.6, 0.1)], False),  # unknown first, then named: evidence grew, nothing contested
        ([(0.6, 0.1), (0.1, 0.7)], True),  # the name changed to someone else
        ([(0.6, 0.1), (0.2, 0.1)], True),  # the name was dropped
        ([(0.50, 0.49)], True),  # two people both over the threshold, within the margin
    ],
)
def test_a_name_is_contested_once_the_evidence_wavers(sequence: list[tuple[float, float]], contested: bool) -> None:
    track = TrackIdentity(RecognitionConfig())
    for i, scores in enumerate(sequence):
        track.update(match(*scores), RAW, ("ann", "bob"), ("Ann", "Bob"), i + 1)
    assert track.contested == contested


def test_a_name_reached_only_through_a_lent_template_is_borrowed() -> None:
    track = TrackIdentity(RecognitionConfig())
    track.update(match(0.6, 0.1, gallery=(0.3, 0.1)), RAW, ("ann", "bob"), ("Ann", "Bob"), 1)
    assert track.identity.person_id == "ann" and track.borrowed
    other = TrackIdentity(RecognitionConfig())
    other.update(match(0.7, 0.1, gallery=(0.6, 0.1)), RAW, ("ann", "bob"), ("Ann", "Bob"), 1)
    assert other.identity.person_id == "ann" and not other.borrowed, "the gallery alone names her too"


# -- galleries ----------------------------------------------------------------------------------------------


def gallery(templates: list[np.ndarray], owners: list[int], people: int) -> Gallery:
    ids = tuple(f"p{i}" for i in range(people))
    return Gallery(
        "1",
        "m",
        ids,
        ids,
        np.array(owners, np.int64),
        np.stack(templates) if templates else np.zeros((0, 2), np.float32),
    )


def test_match_against_one_and_many_templates() -> None:
    one = gallery([unit(1, 0), unit(0, 1)], [0, 1], 2)
    match = one.match(np.stack([unit(1, 0.1), unit(0.1, 1)]))
    assert match.person_index.tolist() == [0, 1]
    assert match.runner_up[0] == pytest.approx(float(unit(1, 0.1) @ unit(0, 1)))
    # person 0 has a second template pointing where person 1's is: a probe there matches person 0's best
    many = gallery([unit(1, 0), unit(0, 1), unit(0, 1)], [0, 0, 1], 2)
    assert many.match(unit(0, 1)[None]).cosine[0] == pytest.approx(1.0)


def test_match_on_an_empty_gallery() -> None:
    match = gallery([], [], 0).match(unit(1, 0)[None])
    assert match.person_index.tolist() == [-1] and match.cosine.tolist() == [-1.0]


def test_person_templates_keep_the_mean_and_varied_samples() -> None:
    samples = np.stack([unit(1, 0.1), unit(1, 0.12), unit(1, -0.6), unit(-1, 0)])  # last one: a wrong face
    templates = person_templates(samples, max_templates=8)
    assert templates[0] @ unit(1, 0) > 0.95, "the first template is the mean of the inliers"
    assert not any(t @ unit(-1, 0) > 0.9 for t in templates), "the outlier is not a template"
    assert len(templates) == 2, "the mean covers the two similar samples; the turned face adds one"
