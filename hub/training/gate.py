"""The release gate: a retrained model replaces the current one only if it is better where it was trained
(held-out enrolled samples) and not worse on strangers (LFW), for every precision that will be deployed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hub.training.config import GateConfig
from hub.training.evaluation import IdentificationMetrics
from hub.training.progress import Precision


@dataclass(frozen=True)
class ModelScores:
    """One model file's figures: held-out identification and LFW accuracy (None when LFW was not run)."""

    held_out: IdentificationMetrics
    lfw_accuracy: float | None


@dataclass(frozen=True)
class GateDecision:
    released: bool
    reasons: tuple[str, ...]
    """Why the model is not released (empty when it is)."""
    checks: tuple[str, ...]
    """One line per comparison, passed or not, for the report."""


def _held_out_check(
    before: IdentificationMetrics, after: IdentificationMetrics, min_gain_points: float
) -> tuple[bool, str]:
    gain = 100 * (after.accuracy - before.accuracy)
    margin_gain = after.mean_margin - before.mean_margin
    ok = gain > min_gain_points or (min_gain_points == 0 and gain == 0 and margin_gain > 0)
    text = (
        f"held-out identification {100 * before.accuracy:.2f}% -> {100 * after.accuracy:.2f}% "
        f"({gain:+.2f} points; mean margin {before.mean_margin:.3f} -> {after.mean_margin:.3f})"
    )
    return ok, text


def _lfw_check(before: float, after: float, max_drop_points: float) -> tuple[bool, str]:
    change = 100 * (after - before)
    text = f"LFW {100 * before:.2f}% -> {100 * after:.2f}% ({change:+.2f} points, allowed -{max_drop_points:.2f})"
    return change >= -max_drop_points, text


def decide(
    before: Mapping[Precision, ModelScores], after: Mapping[Precision, ModelScores], config: GateConfig
) -> GateDecision:
    """Compare each precision in `config.precisions` (fp32 with fp32, int8 with int8)."""
    reasons: list[str] = []
    checks: list[str] = []
    for precision in config.precisions:
        if precision not in before or precision not in after:
            reasons.append(f"{precision}: no scores for the current or the new model")
            continue
        old, new = before[precision], after[precision]
        ok, text = _held_out_check(old.held_out, new.held_out, config.min_held_out_gain_points)
        checks.append(f"{precision} {text}: {'pass' if ok else 'FAIL'}")
        if not ok:
            reasons.append(f"{precision}: not better on the held-out split ({text})")
        if old.lfw_accuracy is None or new.lfw_accuracy is None:
            checks.append(f"{precision} LFW: not evaluated")
            continue
        ok, text = _lfw_check(old.lfw_accuracy, new.lfw_accuracy, config.max_lfw_drop_points)
        checks.append(f"{precision} {text}: {'pass' if ok else 'FAIL'}")
        if not ok:
            reasons.append(f"{precision}: worse on LFW than allowed ({text})")
    return GateDecision(not reasons, tuple(reasons), tuple(checks))
