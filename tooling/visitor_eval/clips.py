"""Visitors on real clips, and what accepted suggestions do for recall.

Visitor counts: a clip is replayed through the agent's processor against a gallery of the people folder
(enrolled by a real hub), its ended tracks are fed to that hub as over MQTT, and the unknown ones are
counted as visitors, on arrival and after a re-clustering, per shot where the clip has a truth file.

Suggestions: every shot of the clip is split at its middle frame. The first halves are the first pass: their
events go to the hub, which offers suggested samples; all are accepted through the enrollment path and the
gallery is rebuilt. The second halves are held out: they are replayed with the gallery before and after, and
scored against the truth (tracks of enrolled people named right; (shot, person) pairs named).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edge.config import RecognitionConfig, TrackerConfig
from hub.service import Hub
from hub.visitors.maintenance import recluster_all
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tooling.video_eval.replay import IMAGE_SUFFIXES, Replay, replay_clip
from tooling.video_eval.score import Totals, score_replay
from tooling.video_eval.truth import ClipTruth, align_to_cuts, frame_changes, load_truth
from tooling.visitor_eval.hubs import eval_hub, hub_gallery, wire_events


@dataclass(frozen=True)
class ClipVisitors:
    """Unknown tracks of a clip and the visitors they made (per shot: label -> (tracks, visitors))."""

    clip: str
    frames: int
    tracks: int
    unknown_tracks: int
    visitors_on_arrival: int
    visitors_reclustered: int
    per_shot: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class SuggestionRecall:
    first_pass_frames: int
    held_out_frames: int
    suggested: int
    accepted: int
    refused: dict[str, int]  # why the enrollment path refused accepted crops
    not_suggested: dict[str, int]  # named tracks of the first pass not offered, by the rule that refused
    before: Totals
    after: Totals
    before_people: list[str]  # "shot person outcome" of the held-out part
    after_people: list[str]


def enroll_people(hub: Hub, people_dir: Path) -> dict[str, str]:
    """Enroll one person per folder through the hub's enrollment path; person id -> folder name."""
    for folder in sorted(p for p in people_dir.iterdir() if p.is_dir()):
        photos = [(f.name, f.read_bytes()) for f in sorted(folder.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        hub.enrollment.accept_crops(folder.name, photos)
    return {p.id: p.name for p in hub.library.people()}


def _by_name(replay: Replay, names: dict[str, str]) -> Replay:
    """The replay with gallery person ids turned into folder names (what truth files use)."""
    for track in replay.tracks:
        track.final_person = names.get(track.final_person or "", track.final_person)
        track.named = [(f, names.get(p or "", p)) for f, p in track.named]
    return replay


def _feed(hub: Hub, replay: Replay, device_id: str) -> list[str]:
    """Send the replay's events to the hub; the event ids of its ended tracks."""
    events = wire_events(replay.events, device_id)
    for event in events:
        hub.visitors.on_event(event)
    return [e.event_id for e in events if e.type == "track_ended"]


def _visitors_of(hub: Hub, event_ids: list[str]) -> dict[str, str]:
    with hub.db.read() as db:
        rows = db.execute("SELECT event_id, visitor_id FROM ended_tracks WHERE visitor_id IS NOT NULL").fetchall()
    wanted = set(event_ids)
    return {e: v for e, v in rows if e in wanted}


def clip_visitors(
    clip: Path,
    truth: ClipTruth | None,
    pipeline: FacePipeline,
    people: Path,
    join_cosine: float,
    tracker: TrackerConfig,
    recognition: RecognitionConfig,
    detection: ScheduleConfig,
) -> ClipVisitors:
    with tempfile.TemporaryDirectory(prefix="facefleet-visitors-") as tmp:
        hub = eval_hub(Path(tmp), pipeline, join_cosine)
        try:
            enroll_people(hub, people)
            replay = replay_clip(clip, pipeline, hub_gallery(hub), tracker, recognition, detection)
            ended = _feed(hub, replay, "clip")
            arrival = _visitors_of(hub, ended)
            recluster_all(hub.visitor_store)
            final = _visitors_of(hub, ended)
        finally:
            hub.db.close()
    per_shot: dict[str, tuple[int, int]] = {}
    if truth is not None:
        logs = {t.track_id: t for t in replay.tracks}
        ended_tracks = [r.track_id for r in replay.events if r.type == "track_ended"]
        for shot in truth.shots:
            in_shot = [
                e
                for e, tid in zip(ended, ended_tracks, strict=True)
                if e in final and tid in logs and shot.first <= logs[tid].first_frame <= shot.last
            ]
            per_shot[shot.label] = (len(in_shot), len({final[e] for e in in_shot}))
    return ClipVisitors(
        clip.name, replay.frames, len(ended), len(final), len(set(arrival.values())), len(set(final.values())), per_shot
    )


def split_halves(truth: ClipTruth) -> tuple[set[int], set[int]]:
    """(first halves, second halves) of every shot's frame numbers."""
    first: set[int] = set()
    second: set[int] = set()
    for shot in truth.shots:
        middle = (shot.first + shot.last + 1) // 2
        first |= set(range(shot.first, middle))
        second |= set(range(middle, shot.last + 1))
    return first, second


def suggestion_recall(
    clip: Path,
    truth_path: Path,
    pipeline: FacePipeline,
    people: Path,
    join_cosine: float,
    tracker: TrackerConfig,
    recognition: RecognitionConfig,
    detection: ScheduleConfig,
) -> SuggestionRecall:
    truth, _ = align_to_cuts(load_truth(truth_path), frame_changes(clip))
    first, second = split_halves(truth)
    with tempfile.TemporaryDirectory(prefix="facefleet-visitors-") as tmp:
        hub = eval_hub(Path(tmp), pipeline, join_cosine)
        try:
            names = enroll_people(hub, people)
            before = hub_gallery(hub)
            _feed(hub, replay_clip(clip, pipeline, before, tracker, recognition, detection, first), "first-pass")
            accepted, refused = _accept_all(hub)
            not_suggested = dict(hub.visitors.not_suggested)
            after = hub_gallery(hub)
        finally:
            hub.db.close()
    scores = [
        score_replay(_by_name(replay_clip(clip, pipeline, g, tracker, recognition, detection, second), names), truth)
        for g in (before, after)
    ]
    outcomes = [[f"{p.shot} {p.person} {p.outcome}" for p in score.people] for score in scores]
    return SuggestionRecall(
        len(first),
        len(second),
        accepted + sum(refused.values()),
        accepted,
        dict(refused),
        not_suggested,
        scores[0].totals,
        scores[1].totals,
        outcomes[0],
        outcomes[1],
    )


def _accept_all(hub: Hub) -> tuple[int, Counter[str]]:
    """Accept every pending suggestion through the enrollment path; (crops added, refusal reasons)."""
    accepted, refused = 0, Counter[str]()
    for suggestion in hub.suggestions.find(limit=10_000):
        jpeg = hub.visitor_store.crop_path(suggestion.event_id).read_bytes()
        added, why = hub.enrollment.accept_crops(suggestion.person_name, [(f"track-{suggestion.event_id}.jpg", jpeg)])
        hub.suggestions.decide(suggestion.event_id, "accepted" if added else "rejected", detail=why)
        accepted += added
        refused.update([why] if not added else [])
    return accepted, refused
