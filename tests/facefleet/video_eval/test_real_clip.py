"""The recognition core on the real Hamilton clip and its truth file: enrolled as the hub enrolls, every
frame through the agent's own processor (the agent's defaults, detector min face 20)."""

from __future__ import annotations

import pytest

from edge.config import RecognitionConfig, TrackerConfig
from facefleet.video_eval.replay import enroll_folder, replay_clip
from facefleet.video_eval.score import VideoScore, score_replay
from facefleet.video_eval.truth import align_to_cuts, frame_changes, load_truth
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline
from tests.conftest import CLIPS

CLIP = CLIPS / "short_hamilton_clip.mp4"


@pytest.fixture(scope="module")
def scored(pipeline: FacePipeline) -> VideoScore:
    truth, _ = align_to_cuts(load_truth(CLIPS / "short_hamilton_clip.truth.yaml"), frame_changes(CLIP))
    enrolled = enroll_folder(pipeline, CLIPS / "people")
    replay = replay_clip(CLIP, pipeline, enrolled.gallery, TrackerConfig(), RecognitionConfig(), ScheduleConfig())
    return score_replay(replay, truth)


def test_no_track_spans_two_shots(scored: VideoScore) -> None:
    assert [t.track_id for t in scored.tracks if t.spans_shots] == []
    assert scored.totals.tracks_spanning_two_people == 0


def test_the_singer_is_named_in_his_close_up_within_half_a_second(scored: VideoScore) -> None:
    close_up = next(p for p in scored.people if p.person == "lin_manuel_miranda" and p.shot.startswith("82"))
    assert close_up.outcome == "named" and close_up.latency_s is not None and close_up.latency_s <= 0.5


def test_obama_is_named_in_the_audience(scored: VideoScore) -> None:
    audience = next(p for p in scored.people if p.person == "obama")
    assert audience.outcome == "named"


def test_no_stranger_is_named_and_nobody_is_misnamed(scored: VideoScore) -> None:
    assert scored.totals.false_accepts == 0 and scored.totals.named_wrong == 0
    audience = [t for t in scored.tracks if t.main_shot == "211-274"]
    named = [t.final_person for t in audience if t.final_person is not None]
    assert named == ["obama"], "Michelle Obama, her mother and the audience stay unknown"
