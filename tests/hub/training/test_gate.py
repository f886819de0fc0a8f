"""The release gate, table-driven: better held out, and not more than 0.5 points worse on LFW."""

from __future__ import annotations

import pytest

from hub.training.config import GateConfig
from hub.training.evaluation import IdentificationMetrics
from hub.training.gate import ModelScores, decide


def _scores(accuracy: float, margin: float, lfw: float | None) -> ModelScores:
    return ModelScores(IdentificationMetrics(accuracy, margin, 40), lfw)


CURRENT = _scores(0.90, 0.30, 0.990)


@pytest.mark.parametrize(
    ("new", "released", "reason"),
    [
        (_scores(0.95, 0.35, 0.990), True, ""),  # better held out, same LFW
        (_scores(0.95, 0.35, 0.986), True, ""),  # LFW -0.4 points: within the allowance
        (_scores(0.95, 0.35, 0.984), False, "worse on LFW"),  # LFW -0.6 points
        (_scores(0.90, 0.31, 0.990), True, ""),  # same accuracy, larger margin: better
        (_scores(0.90, 0.30, 0.995), False, "not better on the held-out split"),  # no held-out gain at all
        (_scores(0.85, 0.40, 0.995), False, "not better on the held-out split"),  # lower accuracy, larger margin
        (_scores(0.95, 0.35, None), True, ""),  # no LFW benchmark given: held-out decides
    ],
)
def test_decide(new: ModelScores, released: bool, reason: str) -> None:
    decision = decide({"fp32": CURRENT}, {"fp32": new}, GateConfig(precisions=("fp32",)))
    assert decision.released is released
    assert all(reason in r for r in decision.reasons) and (released or decision.reasons)
    assert decision.checks


def test_every_precision_must_pass() -> None:
    good, bad = _scores(0.95, 0.35, 0.990), _scores(0.95, 0.35, 0.970)
    decision = decide({"fp32": CURRENT, "int8": CURRENT}, {"fp32": good, "int8": bad}, GateConfig())
    assert not decision.released
    assert decision.reasons[0].startswith("int8")


def test_missing_scores_block_release() -> None:
    decision = decide({"fp32": CURRENT}, {"fp32": _scores(0.95, 0.35, 0.99)}, GateConfig())
    assert not decision.released and "int8" in decision.reasons[0]


def test_a_required_gain_is_a_strict_threshold() -> None:
    config = GateConfig(precisions=("fp32",), min_held_out_gain_points=2.0)
    assert not decide({"fp32": CURRENT}, {"fp32": _scores(0.91, 0.5, 0.99)}, config).released
    assert decide({"fp32": CURRENT}, {"fp32": _scores(0.93, 0.3, 0.99)}, config).released
