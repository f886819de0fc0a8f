"""Scoring a replay (or a per-frame peer) against a shot-level truth file.

The truth says who is on screen per shot, not where, so a track's person is known only as "one of the
people of its shot". Its main shot is the one holding most of its frames. Definitions:
- enrolled track: its main shot shows only enrolled people (each of its tracks is one of them), or it was
  named one of the enrolled people of a shot that also shows strangers.
- named_right / named_wrong / unknown: an enrolled track's final identity is a person on screen in its
  main shot / someone else / nobody. In a shot that also shows strangers an unknown track may be either,
  so it is counted apart (`unknown_in_mixed_shots`).
- false accept: a track of a shot showing strangers (or nobody enrolled) that was, at any time, named
  someone not enrolled in that shot.
- spanning: a track whose frames lie in two shots crosses a cut; if those shots show different people it
  spans two people (a track must never carry two people).
Per (shot, enrolled person): named (some track of the shot named them, with the time from that track's
first embeddable face to the name), wrong (not named, and a wrong name appeared in the shot), unknown (faces
tracked, nobody named them), missed (no track in the shot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tooling.video_eval.replay import Replay, TrackLog
from tooling.video_eval.truth import ClipTruth, Shot

TrackOutcome = Literal["named_right", "named_wrong", "unknown", "unknown_mixed", "false_accept", "stranger_unknown"]
PersonOutcome = Literal["named", "wrong", "unknown", "missed"]


@dataclass(frozen=True)
class TrackScore:
    track_id: int
    first_frame: int
    last_frame: int
    frames_seen: int
    main_shot: str
    shots: tuple[str, ...]
    final_person: str | None
    embeddings: int
    first_named_frame: int | None
    outcome: TrackOutcome
    spans_shots: bool
    spans_two_people: bool


@dataclass(frozen=True)
class PersonShotScore:
    shot: str
    person: str
    outcome: PersonOutcome
    latency_s: float | None = None


@dataclass(frozen=True)
class Totals:
    enrolled_tracks: int
    named_right: int
    named_wrong: int
    unknown: int
    unknown_in_mixed_shots: int
    false_accepts: int
    tracks_spanning_shots: int
    tracks_spanning_two_people: int
    people_named: int
    people_on_screen: int
    first_name_latency_s: dict[str, float | None]


@dataclass(frozen=True)
class VideoScore:
    tracks: list[TrackScore]
    people: list[PersonShotScore]
    totals: Totals


def _people(shot: Shot) -> frozenset[str]:
    return frozenset(shot.enrolled) | frozenset(shot.others)


def _overlap(track: TrackLog, shot: Shot) -> int:
    return max(0, min(track.last_frame, shot.last) - max(track.first_frame, shot.first) + 1)


def _track_outcome(track: TrackLog, shot: Shot) -> TrackOutcome:
    if shot.strangers_on_screen or not shot.enrolled:
        if any(p is not None and p not in shot.enrolled for _, p in track.named):
            return "false_accept"
        if track.final_person in shot.enrolled:
            return "named_right"
        return "unknown_mixed" if shot.enrolled else "stranger_unknown"
    if track.final_person is None:
        return "unknown"
    return "named_right" if track.final_person in shot.enrolled else "named_wrong"


def score_track(track: TrackLog, truth: ClipTruth) -> TrackScore:
    overlaps = [_overlap(track, s) for s in truth.shots]
    main = max(range(len(overlaps)), key=lambda i: overlaps[i])
    covered = [i for i, n in enumerate(overlaps) if n > 0]
    people = {_people(truth.shots[i]) for i in covered}
    shot = truth.shots[main]
    return TrackScore(
        track.track_id,
        track.first_frame,
        track.last_frame,
        track.frames_seen,
        shot.label,
        tuple(truth.shots[i].label for i in covered),
        track.final_person,
        track.embeddings,
        track.first_named_frame,
        _track_outcome(track, shot),
        len(covered) > 1,
        len(people) > 1,
    )


def _person_in_shot(shot: Shot, person: str, tracks: list[TrackLog], fps: float) -> PersonShotScore:
    latencies = []
    for track in tracks:
        named_at = next((f for f, p in track.named if p == person and shot.first <= f <= shot.last), None)
        if named_at is not None:
            seen = track.first_embeddable_frame if track.first_embeddable_frame is not None else track.first_frame
            latencies.append(max(0, named_at - max(seen, shot.first)) / fps)
    if latencies:
        return PersonShotScore(shot.label, person, "named", min(latencies))
    if not tracks:
        return PersonShotScore(shot.label, person, "missed")
    wrong = any(p is not None and p not in shot.enrolled for t in tracks for _, p in t.named)
    return PersonShotScore(shot.label, person, "wrong" if wrong else "unknown")


def score_replay(replay: Replay, truth: ClipTruth) -> VideoScore:
    tracks = [score_track(t, truth) for t in replay.tracks]
    by_shot: dict[str, list[TrackLog]] = {s.label: [] for s in truth.shots}
    for log, scored in zip(replay.tracks, tracks, strict=True):
        by_shot[scored.main_shot].append(log)
    people = [_person_in_shot(s, p, by_shot[s.label], replay.fps) for s in truth.shots for p in s.enrolled]
    return VideoScore(tracks, people, _totals(tracks, people, truth))


def _totals(tracks: list[TrackScore], people: list[PersonShotScore], truth: ClipTruth) -> Totals:
    count = {o: sum(1 for t in tracks if t.outcome == o) for o in TrackOutcome.__args__}  # type: ignore[attr-defined]
    latency: dict[str, float | None] = {}
    for person in truth.enrolled_people:
        named = [p.latency_s for p in people if p.person == person and p.latency_s is not None]
        latency[person] = max(named) if named else None
    return Totals(
        enrolled_tracks=count["named_right"] + count["named_wrong"] + count["unknown"],
        named_right=count["named_right"],
        named_wrong=count["named_wrong"],
        unknown=count["unknown"],
        unknown_in_mixed_shots=count["unknown_mixed"],
        false_accepts=count["false_accept"],
        tracks_spanning_shots=sum(t.spans_shots for t in tracks),
        tracks_spanning_two_people=sum(t.spans_two_people for t in tracks),
        people_named=sum(p.outcome == "named" for p in people),
        people_on_screen=len(people),
        first_name_latency_s=latency,
    )
