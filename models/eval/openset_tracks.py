"""Open-set identification of tracks on LFW: the agent's naming rules, the fixed cosine threshold and the
cohort-normalised one (`facefleet.openset`), side by side for galleries of several sizes.

Protocol (tracks instead of single photos, since the agent decides on a track's pooled template after each
embedding it adds):
- people: LFW minus the impostor cohort's people (their faces are the cohort); gallery candidates are the
  people with at least two photos, each enrolled from ONE photo (their first), as a household enrolls;
  sub-galleries of `sizes` people are drawn `repeats` times;
- a mated track: a gallery person's next photos (up to 4), pooled one by one with a decision after each
  (the running name, hysteresis included); DIR: the share of mated tracks named right at the end and never
  named wrong;
- a stranger track: the photos (up to 5) of a person with several photos who is not in the sub-gallery,
  pooled and decided in the same way, and each person with a single photo (a one-look track); FAR: the share
  of stranger tracks named as anybody at any decision.
LFW photos of one person differ more than the frames of one video track, so a stranger's pooled LFW track
looks at more independent evidence than a video track of the same length does: the FAR here errs high.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facefleet.openset import DecisionRule, cohort_stats, decide, naming_z, standardize
from models.cohort import cohort_people
from models.eval.lfw import cache_key, crops_for_images
from models.pipeline import FacePipeline
from models.registry import default_cache_dir

MAX_TRACK_PHOTOS = 5


@dataclass(frozen=True)
class TrackSet:
    """Pooled templates of every track at every step.

    steps: (S, D) unit pooled templates; owner: (S,) the LFW person index; step: (S,) 0-based step in its
    track; mated: (S,) whether the step belongs to the person's mated track (photos after the first) rather
    than their stranger track (all photos). gallery: (G, D) first photos of the multi-photo people.
    """

    steps: np.ndarray
    owner: np.ndarray
    step: np.ndarray
    mated: np.ndarray
    gallery: np.ndarray
    multi: np.ndarray  # (G,) person index of each gallery row


@dataclass(frozen=True)
class NamingRules:
    """The agent's two rules: `fixed` (cosines, for a gallery without a cohort) and the cohort rule's stated
    stranger-track FAR, margin and hysteresis (z-scores)."""

    fixed: DecisionRule
    stranger_track_far: float
    margin_z: float
    hysteresis_z: float


@dataclass(frozen=True)
class RuleResult:
    far: float
    dir: float
    threshold: float


@dataclass(frozen=True)
class TrackSize:
    people: int
    old: RuleResult
    new: RuleResult


def _pooled(embeddings: np.ndarray) -> np.ndarray:
    """(K, D) -> (K, D): the running mean direction after each embedding."""
    running = np.cumsum(embeddings, axis=0)
    unit: np.ndarray = running / np.linalg.norm(running, axis=1, keepdims=True)
    return unit


def track_set(by_person: list[np.ndarray]) -> TrackSet:
    """by_person: (K_i, D) embeddings of each person's photos in order."""
    steps, owner, step, mated, gallery, multi = [], [], [], [], [], []
    for person, photos in enumerate(by_person):
        photos = photos[:MAX_TRACK_PHOTOS]
        for is_mated, track in ((False, photos), (True, photos[1:])):
            if len(track) == 0:
                continue
            steps.append(_pooled(track))
            owner += [person] * len(track)
            step += list(range(len(track)))
            mated += [is_mated] * len(track)
        if len(photos) > 1:
            gallery.append(photos[0])
            multi.append(person)
    return TrackSet(
        np.concatenate(steps), np.array(owner), np.array(step), np.array(mated), np.stack(gallery), np.array(multi)
    )


def _clear(scores: np.ndarray, rule: DecisionRule) -> np.ndarray:
    """(N, P) scores -> (N,) whether a first decision names someone (best at the threshold, margin kept)."""
    if scores.shape[1] == 1:
        return scores[:, 0] >= rule.threshold
    top = -np.partition(-scores, 1, axis=1)[:, :2]
    named: np.ndarray = (top[:, 0] >= rule.threshold) & (top[:, 0] - top[:, 1] >= rule.margin)
    return named


def rule_on_gallery(tracks: TrackSet, scale: np.ndarray, chosen: np.ndarray, rule: DecisionRule) -> RuleResult:
    """FAR of the stranger tracks and DIR of the mated tracks against the gallery rows `chosen`.

    scale: (S, 2) the cohort mean and spread of each step (or (0, 1) for raw cosines)."""
    in_gallery = np.isin(tracks.owner, tracks.multi[chosen])
    scores = standardize(tracks.steps @ tracks.gallery[chosen].T, scale[:, 0], scale[:, 1])
    strangers = ~tracks.mated & ~in_gallery
    named = _clear(scores[strangers], rule)
    false_accepts: defaultdict[int, bool] = defaultdict(bool)
    for person, hit in zip(tracks.owner[strangers].tolist(), named.tolist(), strict=True):
        false_accepts[person] |= hit
    position = {int(p): i for i, p in enumerate(tracks.multi[chosen])}
    right = []
    for person in tracks.multi[chosen].tolist():
        rows = np.nonzero(tracks.mated & (tracks.owner == person))[0]
        current, wrong = -1, False
        for row in rows:
            current = decide(scores[row], current, rule)
            wrong |= current >= 0 and current != position[person]
        right.append(current == position[person] and not wrong)
    return RuleResult(float(np.mean(list(false_accepts.values()))), float(np.mean(right)), rule.threshold)


def evaluate_tracks(
    tracks: TrackSet, cohort: np.ndarray, rules: NamingRules, sizes: tuple[int, ...] = (5, 30, 100, 1000), seed: int = 0
) -> list[TrackSize]:
    """Both rules on random sub-galleries of each size (20 draws, 5 for 1,000 people and more)."""
    mean, spread = cohort_stats(tracks.steps, cohort)
    raw_scale = np.stack([np.zeros(len(mean)), np.ones(len(mean))], axis=1)
    z_scale = np.stack([mean, spread], axis=1)
    rng = np.random.default_rng(seed)
    results = []
    for size in sizes:
        size = min(size, len(tracks.gallery))
        new = DecisionRule(naming_z(size, rules.stranger_track_far), rules.margin_z, rules.hysteresis_z, True)
        runs = [
            (rule_on_gallery(tracks, raw_scale, chosen, rules.fixed), rule_on_gallery(tracks, z_scale, chosen, new))
            for chosen in (
                np.sort(rng.choice(len(tracks.gallery), size, replace=False)) for _ in range(5 if size >= 1000 else 20)
            )
        ]
        results.append(
            TrackSize(
                size,
                *(
                    RuleResult(
                        float(np.mean([r[i].far for r in runs])),
                        float(np.mean([r[i].dir for r in runs])),
                        runs[0][i].threshold,
                    )
                    for i in (0, 1)
                ),
            )
        )
    return results


def lfw_tracks(pipeline: FacePipeline, lfw_dir: Path, tag: str = "") -> TrackSet:
    """Embeddings of the first `MAX_TRACK_PHOTOS` photos of every LFW person outside the cohort."""
    left_out = set(cohort_people(lfw_dir))
    people = sorted(
        p.name for p in (lfw_dir / "images_deepfunneled").iterdir() if p.is_dir() and p.name not in left_out
    )
    paths = {p: sorted((lfw_dir / "images_deepfunneled" / p).glob("*.jpg"))[:MAX_TRACK_PHOTOS] for p in people}
    flat = [path for p in people for path in paths[p]]
    key = cache_key(lfw_dir.resolve(), len(flat), pipeline.detector.config, "tracks", tag)
    crops, _ = crops_for_images(
        pipeline.detector, flat, default_cache_dir() / "lfw" / f"{key}.npz", desc="LFW tracks detect+align"
    )
    embeddings = pipeline.embedder.embed(crops)
    ends = np.cumsum([len(paths[p]) for p in people])
    return track_set(np.split(embeddings, ends[:-1]))


def format_tracks(label: str, tracks: TrackSet, sizes: list[TrackSize], far: float) -> list[str]:
    strangers = int((~tracks.mated & (tracks.step == 0)).sum())
    lines = [
        f"{label} open-set tracks (cohort people left out): {len(tracks.gallery)} people enrollable from one "
        f"photo, their next photos as mated tracks; {strangers} stranger tracks (pooled from up to "
        f"{MAX_TRACK_PHOTOS} photos), decided after each photo"
    ]
    for size in sizes:
        lines.append(
            f"  gallery of {size.people:>4}: cosine >= {size.old.threshold:.2f}: stranger-track FAR "
            f"{size.old.far:.4f}, DIR {100 * size.old.dir:.2f}% | cohort z >= {size.new.threshold:.2f} "
            f"(stated FAR {far:g}): FAR {size.new.far:.4f}, DIR {100 * size.new.dir:.2f}%"
        )
    return lines
