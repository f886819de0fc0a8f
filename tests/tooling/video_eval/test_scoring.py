"""Truth files, boundary alignment and scoring on small tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tooling.video_eval.peer import PeerRun, score_peer
from tooling.video_eval.replay import Replay, TrackLog
from tooling.video_eval.score import score_replay
from tooling.video_eval.truth import ClipTruth, TruthError, align_to_cuts, load_truth

TRUTH = ClipTruth.model_validate(
    {
        "shots": [
            {"frames": [0, 9], "enrolled": ["ann"]},
            {"frames": [10, 19], "enrolled": ["bob"], "others": ["a stranger"]},
            {"frames": [20, 29], "others": ["crowd"]},
        ]
    }
)


def log(
    track_id: int, first: int, last: int, named: list[tuple[int, str | None]], embeddable: int | None = None
) -> TrackLog:
    final = named[-1][1] if named else None
    return TrackLog(track_id, first, last, last - first + 1, embeddable, named, final, 3, started=True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("shots: []\n", "shots"),  # no shots
        ("shots: [{frames: [5, 2]}]\n", "first <= last"),  # reversed range
        ("shots: [{frames: [0, 9]}, {frames: [5, 12]}]\n", "overlaps"),  # overlapping shots
        ("[1, 2]\n", "mapping"),  # not a mapping
    ],
)
def test_bad_truth_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(text)
    with pytest.raises(TruthError, match=message):
        load_truth(path)


def test_boundaries_move_to_the_real_cut_within_the_tolerance() -> None:
    changes = np.full(30, 0.02, np.float32)
    changes[13] = 0.6  # the picture really changes at 13, the truth says 10
    changes[20] = 0.5  # this one is where the truth says
    aligned, moves = align_to_cuts(TRUTH, changes, tolerance=5)
    assert [(s.first, s.last) for s in aligned.shots] == [(0, 12), (13, 19), (20, 29)]
    assert [(m.stated, m.aligned) for m in moves] == [(10, 13)]
    flat, none = align_to_cuts(TRUTH, np.full(30, 0.02, np.float32))
    assert none == [] and flat == TRUTH, "no visible cut nearby: the truth stands"


def test_track_outcomes_and_totals() -> None:
    tracks = [
        log(1, 0, 9, [(2, "ann")], embeddable=1),  # named right, 1 frame after its first embeddable face
        log(2, 0, 9, [(3, None)]),  # an enrolled-only shot's unknown track
        log(3, 10, 19, [(12, "bob")]),  # named right in a shot with a stranger
        log(4, 10, 19, [(12, None), (15, "ann")]),  # named someone not on screen where a stranger is
        log(5, 10, 19, [(11, None)]),  # unknown where a stranger is: could be either
        log(6, 20, 29, [(21, None)]),  # a stranger left unknown
        log(7, 5, 14, [(6, "ann")]),  # crosses the cut at 10 into a shot with other people
    ]
    score = score_replay(Replay(tracks, [10, 20], 30, 10.0, 1.0), TRUTH)
    outcomes = {t.track_id: t.outcome for t in score.tracks}
    assert outcomes == {
        1: "named_right",
        2: "unknown",
        3: "named_right",
        4: "false_accept",
        5: "unknown_mixed",
        6: "stranger_unknown",
        7: "named_right",
    }
    t = score.totals
    assert (t.enrolled_tracks, t.named_right, t.unknown, t.false_accepts) == (4, 3, 1, 1)
    assert t.tracks_spanning_shots == 1 and t.tracks_spanning_two_people == 1
    people = {(p.shot, p.person): (p.outcome, p.latency_s) for p in score.people}
    assert people == {("0-9", "ann"): ("named", 0.1), ("10-19", "bob"): ("named", 0.2)}  # bob: from frame 10
    assert t.first_name_latency_s == {"ann": 0.1, "bob": 0.2}


def test_person_outcomes_wrong_unknown_missed() -> None:
    truth = ClipTruth.model_validate(
        {
            "shots": [
                {"frames": [0, 9], "enrolled": ["ann"]},
                {"frames": [10, 19], "enrolled": ["bob"]},
                {"frames": [20, 29], "enrolled": ["cy"]},
            ]
        }
    )
    tracks = [log(1, 0, 9, [(1, "bob")]), log(2, 10, 19, [(11, None)])]
    score = score_replay(Replay(tracks, [], 30, 10.0, 1.0), truth)
    assert [p.outcome for p in score.people] == ["wrong", "unknown", "missed"]
    assert score.totals.named_wrong == 1


def test_peer_scoring_per_frame_names() -> None:
    names: list[list[str | None]] = [[None]] * 3 + [["ann"]] * 7 + [["ann", None]] * 10 + [[]] * 10
    people, wrong_frames = score_peer(PeerRun(names, 3.0), TRUTH, fps=10.0)
    assert [(p.shot, p.person, p.outcome) for p in people] == [("0-9", "ann", "named"), ("10-19", "bob", "wrong")]
    assert people[0].latency_s == pytest.approx(0.3) and wrong_frames == 10
