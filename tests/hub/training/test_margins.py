"""ArcFace, CosFace and the combined margin: the true-class logit, the others, and the loss."""

from __future__ import annotations

import math

import pytest
import torch

from hub.training.margins import CombinedMarginHead

CENTRES = torch.eye(3, 4)  # three orthogonal unit centres in 4-d


def _embedding(angle: float) -> torch.Tensor:
    """A unit vector at `angle` from centre 0, in the plane of centres 0 and 1."""
    return torch.tensor([[math.cos(angle), math.sin(angle), 0.0, 0.0]])


@pytest.mark.parametrize(
    ("m1", "m2", "m3", "angle", "expected_cos"),
    [
        (1.0, 0.5, 0.0, 0.6, math.cos(1.1)),  # arcface: cos(theta + m)
        (1.0, 0.0, 0.35, 0.6, math.cos(0.6) - 0.35),  # cosface: cos(theta) - m
        (1.0, 0.3, 0.2, 0.6, math.cos(0.9) - 0.2),  # combined
        (1.0, 0.0, 0.0, 0.6, math.cos(0.6)),  # no margin: plain normalised softmax
    ],
)
def test_true_class_logit(m1: float, m2: float, m3: float, angle: float, expected_cos: float) -> None:
    head = CombinedMarginHead(CENTRES, s=10.0, m1=m1, m2=m2, m3=m3)
    logits = head.logits(_embedding(angle), torch.tensor([0]))
    assert logits[0, 0].item() == pytest.approx(10 * expected_cos, abs=1e-4)
    assert logits[0, 1].item() == pytest.approx(10 * math.sin(angle), abs=1e-4)  # others: plain s*cos
    assert logits[0, 2].item() == pytest.approx(0.0, abs=1e-5)


def test_past_pi_the_target_logit_keeps_falling() -> None:
    head = CombinedMarginHead(CENTRES, s=1.0, m2=0.5)
    angles = [2.5, 2.7, 2.9, 3.1]  # theta + m > pi from about 2.64 on
    values = [head.logits(_embedding(a), torch.tensor([0]))[0, 0].item() for a in angles]
    assert values == sorted(values, reverse=True)


def test_margin_loss_is_larger_than_plain_softmax() -> None:
    plain = CombinedMarginHead(CENTRES, s=16.0, m2=0.0)
    arc = CombinedMarginHead(CENTRES, s=16.0, m2=0.5)
    x, y = _embedding(0.4), torch.tensor([0])
    assert arc(x, y).item() > plain(x, y).item() > 0


def test_needs_two_classes() -> None:
    with pytest.raises(ValueError, match="P >= 2"):
        CombinedMarginHead(torch.ones(1, 4), s=10.0)
