"""`facefleet eval video`: enroll, replay, score, compare with the peer, print one table, write JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import RecognitionConfig, TrackerConfig
from models.cohort import pipeline_cohort
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline, PipelineConfig
from tooling.video_eval.peer import PeerRun, PeerUnavailable, run_peer, score_peer
from tooling.video_eval.replay import Replay, enroll_folder, replay_clip
from tooling.video_eval.score import PersonShotScore, VideoScore, score_replay
from tooling.video_eval.truth import BoundaryMove, ClipTruth, align_to_cuts, frame_changes, load_truth


@dataclass(frozen=True)
class VideoEval:
    clip: str
    truth: ClipTruth
    moves: list[BoundaryMove]
    samples: dict[str, int]
    replay: Replay
    score: VideoScore
    peer: tuple[PeerRun, list[PersonShotScore], int] | None
    peer_error: str | None


def run_video_eval(
    clip: Path,
    truth_path: Path,
    people: Path,
    pipeline_config: PipelineConfig,
    tracker: TrackerConfig,
    recognition: RecognitionConfig,
    detection: ScheduleConfig,
    peer: bool = True,
    peer_frames: int | None = None,
) -> VideoEval:
    """peer_frames: run the peer on the first this many frames only (its columns cover the shots within)."""
    truth, moves = align_to_cuts(load_truth(truth_path), frame_changes(clip))
    pipeline = FacePipeline.from_config(pipeline_config)
    enrolled = enroll_folder(pipeline, people, cohort=pipeline_cohort(pipeline, pipeline_config.model_dir))
    replay = replay_clip(clip, pipeline, enrolled.gallery, tracker, recognition, detection)
    result, error = None, None
    if peer:
        try:
            run = run_peer(clip, people, peer_frames)
            scores, wrong_frames = score_peer(run, truth, replay.fps)
            result = (run, scores, wrong_frames)
        except PeerUnavailable as exc:
            error = str(exc)
    return VideoEval(clip.name, truth, moves, enrolled.samples, replay, score_replay(replay, truth), result, error)


def _agent_wrong_shots(ev: VideoEval) -> int:
    shots = {t.main_shot for t in ev.score.tracks if t.outcome in ("named_wrong", "false_accept")}
    return len(shots)


def format_eval(ev: VideoEval) -> list[str]:
    lines = [
        f"clip {ev.clip}: {ev.replay.frames} frames at {ev.replay.fps:.2f} fps; enrolled samples "
        + ", ".join(f"{k} {v}" for k, v in ev.samples.items())
    ]
    lines += [
        f"truth boundary {m.stated} moved to {m.aligned} (largest frame change within 10 frames, {m.distance:.2f})"
        for m in ev.moves
    ]
    lines.append(f"shot cuts found by the agent at frames {ev.replay.cut_frames}")
    lines.append(
        f"{'track':>5} {'frames':>9} {'seen':>5} {'shots':<14} {'identity':<20} {'emb':>4} {'named@':>6}  outcome"
    )
    for t in ev.score.tracks:
        lines.append(
            f"{t.track_id:>5} {t.first_frame:>4}-{t.last_frame:<4} {t.frames_seen:>5} "
            f"{','.join(t.shots):<14} {t.final_person or 'unknown':<20} {t.embeddings:>4} "
            f"{t.first_named_frame if t.first_named_frame is not None else '-':>6}  {t.outcome}"
            + ("  SPANS SHOTS" if t.spans_shots else "")
        )
    peer = {(p.shot, p.person): p for p in ev.peer[1]} if ev.peer else {}
    lines.append(f"{'shot':<9} {'person':<20} {'agent':<22} {'face_recognition':<22}")
    for p in ev.score.people:
        theirs = peer.get((p.shot, p.person))
        lines.append(f"{p.shot:<9} {p.person:<20} {_outcome(p):<22} {_outcome(theirs) if theirs else '-':<22}")
    tot = ev.score.totals
    lines.append(
        f"agent: enrolled tracks {tot.enrolled_tracks}: named right {tot.named_right}, wrong "
        f"{tot.named_wrong}, unknown {tot.unknown}; unknown in shots with strangers "
        f"{tot.unknown_in_mixed_shots}; false accepts {tot.false_accepts}; tracks across a shot "
        f"boundary {tot.tracks_spanning_shots}, spanning two people {tot.tracks_spanning_two_people}"
    )
    lines.append(
        f"agent: people named in {tot.people_named} of {tot.people_on_screen} (shot, person); shots with "
        f"a wrong name {_agent_wrong_shots(ev)}; {ev.replay.frames / ev.replay.seconds:.1f} fps; first "
        "name latency " + ", ".join(f"{k} {_s(v)}" for k, v in tot.first_name_latency_s.items())
    )
    if ev.peer:
        run, scores, wrong_frames = ev.peer
        named = sum(p.outcome == "named" for p in scores)
        covered = [s for s in ev.truth.shots if s.last < len(run.names)]
        wrong_shots = sum(
            1
            for s in covered
            if any(n is not None and n not in s.enrolled for f in run.names[s.first : s.last + 1] for n in f)
        )
        ours = {(p.shot, p.person) for p in scores}
        agent_named = sum(p.outcome == "named" for p in ev.score.people if (p.shot, p.person) in ours)
        span = (
            ""
            if len(covered) == len(ev.truth.shots)
            else (f" (first {len(run.names)} frames, {len(covered)} shots: the agent named {agent_named} of them)")
        )
        lines.append(
            f"face_recognition: people named in {named} of {len(scores)} (shot, person){span}; shots with "
            f"a wrong name {wrong_shots} ({wrong_frames} frames); {run.fps:.1f} fps"
        )
    elif ev.peer_error:
        lines.append(f"face_recognition: not run ({ev.peer_error})")
    return lines


def _outcome(p: PersonShotScore) -> str:
    return f"named ({_s(p.latency_s)})" if p.outcome == "named" else p.outcome


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def eval_json(ev: VideoEval) -> dict[str, Any]:
    out: dict[str, Any] = {
        "clip": ev.clip,
        "frames": ev.replay.frames,
        "fps": ev.replay.fps,
        "agent_fps": ev.replay.frames / ev.replay.seconds if ev.replay.seconds else 0.0,
        "boundary_moves": [dataclasses.asdict(m) for m in ev.moves],
        "cut_frames": ev.replay.cut_frames,
        "enrolled_samples": ev.samples,
        "tracks": [dataclasses.asdict(t) for t in ev.score.tracks],
        "people": [dataclasses.asdict(p) for p in ev.score.people],
        "totals": dataclasses.asdict(ev.score.totals) | {"shots_with_wrong_name": _agent_wrong_shots(ev)},
    }
    if ev.peer:
        run, scores, wrong_frames = ev.peer
        out["peer"] = {
            "name": "face_recognition",
            "fps": run.fps,
            "wrong_name_frames": wrong_frames,
            "people": [dataclasses.asdict(p) for p in scores],
            "people_named": sum(p.outcome == "named" for p in scores),
        }
    return out


def write_json(ev: VideoEval, path: Path) -> None:
    path.write_text(json.dumps(eval_json(ev), indent=2))
