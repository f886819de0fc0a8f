"""`facefleet eval visitors`: run the LFW and clip measurements, print one report, write JSON."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import RecognitionConfig, TrackerConfig
from models.detect.schedule import ScheduleConfig
from models.pipeline import FacePipeline, PipelineConfig
from tooling.video_eval.score import Totals
from tooling.video_eval.truth import align_to_cuts, frame_changes, load_truth
from tooling.visitor_eval.clips import ClipVisitors, SuggestionRecall, clip_visitors, suggestion_recall
from tooling.visitor_eval.lfw import LfwVisitors, run_lfw_visitors
from tooling.visitor_eval.metrics import ClusterQuality


@dataclass(frozen=True)
class VisitorEval:
    lfw: LfwVisitors | None
    clips: list[ClipVisitors]
    suggestions: SuggestionRecall | None


def run_visitor_eval(
    data: Path, join_cosine: float, people: int = 200, orders: int = 3, lfw: bool = True, clips: bool = True
) -> VisitorEval:
    pipeline = FacePipeline.from_config(PipelineConfig())
    tracker, recognition, detection = TrackerConfig(), RecognitionConfig(), ScheduleConfig()
    lfw_result = run_lfw_visitors(pipeline, data / "lfw", join_cosine, people, orders) if lfw else None
    clip_results: list[ClipVisitors] = []
    recall = None
    if clips:
        folder, hamilton = data / "clips", data / "clips" / "short_hamilton_clip.mp4"
        truth = hamilton.with_suffix(".truth.yaml")
        aligned, _ = align_to_cuts(load_truth(truth), frame_changes(hamilton))
        for clip, clip_truth in ((hamilton, aligned), (folder / "crowd_1080p.mp4", None)):
            clip_results.append(
                clip_visitors(
                    clip, clip_truth, pipeline, folder / "people", join_cosine, tracker, recognition, detection
                )
            )
        recall = suggestion_recall(
            hamilton, truth, pipeline, folder / "people", join_cosine, tracker, recognition, detection
        )
    return VisitorEval(lfw_result, clip_results, recall)


def _quality(label: str, runs: list[ClusterQuality]) -> str:
    def mean(name: str) -> float:
        return sum(float(getattr(r, name)) for r in runs) / len(runs)

    return (
        f"  {label}: pairwise P {mean('pairwise_precision'):.4f} R {mean('pairwise_recall'):.4f}; BCubed P "
        f"{mean('bcubed_precision'):.4f} R {mean('bcubed_recall'):.4f} F {mean('bcubed_f'):.4f}; visitors "
        f"{mean('clusters'):.1f} for {runs[0].people} people ({mean('clusters_per_person'):.3f} per person, "
        f"{100 * mean('pure_clusters'):.1f}% hold one person)"
    )


def _lfw_lines(r: LfwVisitors) -> list[str]:
    lines = [f"LFW threshold: {r.dev_images} images of {r.dev_people} people of pairsDevTrain.txt (every pair):"]
    lines += [
        f"  cosine {p.cosine:.2f}: different-person pairs joining {p.pair_far:.2e}, same-person "
        f"{100 * p.pair_tar:.1f}%; BCubed F online {p.online_f:.4f}, average linkage {p.linkage_f:.4f}"
        for p in r.points
    ]
    lines.append(
        f"LFW visitors: {r.test_images} photos of {r.test_people} people outside pairsDevTrain.txt "
        f"(>= 4 photos each) as unknown tracks, {len(r.online)} random orders, join_cosine {r.join_cosine}"
    )
    return lines + [_quality("on arrival (online rule)", r.online), _quality("after re-clustering", r.reclustered)]


def _totals(t: Totals) -> str:
    return (
        f"enrolled tracks named right {t.named_right} of {t.enrolled_tracks} (wrong {t.named_wrong}); "
        f"(shot, person) named {t.people_named} of {t.people_on_screen}; false accepts {t.false_accepts}"
    )


def format_visitor_eval(ev: VisitorEval) -> list[str]:
    lines = _lfw_lines(ev.lfw) if ev.lfw else []
    for c in ev.clips:
        lines.append(
            f"{c.clip}: {c.frames} frames, {c.tracks} ended tracks, {c.unknown_tracks} unknown -> "
            f"{c.visitors_on_arrival} visitors on arrival, {c.visitors_reclustered} after re-clustering"
        )
        lines += [f"  shot {shot}: {n} unknown tracks -> {v} visitors" for shot, (n, v) in c.per_shot.items()]
    if s := ev.suggestions:
        lines.append(
            f"suggestions: first halves of every shot ({s.first_pass_frames} frames) offered {s.suggested} "
            f"crops, {s.accepted} accepted by the enrollment path"
            + (f" (refused: {', '.join(f'{k} x{v}' for k, v in s.refused.items())})" if s.refused else "")
        )
        lines.append(
            "  named tracks not offered: " + (", ".join(f"{k} x{v}" for k, v in s.not_suggested.items()) or "none")
        )
        lines.append(f"  held-out second halves ({s.held_out_frames} frames), before: {_totals(s.before)}")
        lines.append("    " + "; ".join(s.before_people))
        lines.append(f"  held-out second halves, after accepting: {_totals(s.after)}")
        lines.append("    " + "; ".join(s.after_people))
    return lines


def eval_json(ev: VisitorEval) -> dict[str, Any]:
    def quality(q: ClusterQuality) -> dict[str, Any]:
        return dataclasses.asdict(q) | {"pairwise_f": q.pairwise_f, "bcubed_f": q.bcubed_f}

    out: dict[str, Any] = {
        "clips": [dataclasses.asdict(c) for c in ev.clips],
        "suggestions": dataclasses.asdict(ev.suggestions) if ev.suggestions else None,
    }
    if ev.lfw:
        out["lfw"] = dataclasses.asdict(ev.lfw) | {
            "online": [quality(q) for q in ev.lfw.online],
            "reclustered": [quality(q) for q in ev.lfw.reclustered],
        }
    return out


def write_json(ev: VisitorEval, path: Path) -> None:
    path.write_text(json.dumps(eval_json(ev), indent=2))
