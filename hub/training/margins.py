"""Additive angular margin heads: ArcFace, CosFace and their combined form in one class.

For the true class the logit is `s * (cos(m1 * theta + m2) - m3)`, for the others `s * cos(theta)`, where
theta is the angle between the unit embedding and the unit class centre. ArcFace is (1, m, 0), CosFace
(1, 0, m), SphereFace-like margins use m1 > 1.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CombinedMarginHead(nn.Module):
    """Class centres (P, D) and the margin logits; `forward(embeddings (N, D), labels (N,)) -> loss`."""

    def __init__(self, centres: torch.Tensor, s: float, m1: float = 1.0, m2: float = 0.5, m3: float = 0.0) -> None:
        """centres: (P, D) initial class centres (normalised here), e.g. per-person mean embeddings."""
        super().__init__()
        if centres.ndim != 2 or len(centres) < 2:
            raise ValueError(f"need (P >= 2, D) centres, got {tuple(centres.shape)}")
        self.weight = nn.Parameter(F.normalize(centres.float(), dim=1).clone())
        self.s, self.m1, self.m2, self.m3 = s, m1, m2, m3

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(N, D) -> (N, P) cosines between unit embeddings and unit centres."""
        return F.normalize(embeddings, dim=1) @ F.normalize(self.weight, dim=1).T

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(N, D), (N,) int64 -> (N, P) scaled logits with the margin on each row's true class."""
        cos = self.cosines(embeddings)
        target_cos = cos.gather(1, labels[:, None]).clamp(-1 + 1e-7, 1 - 1e-7)
        angle = self.m1 * torch.acos(target_cos) + self.m2
        with_margin = torch.cos(angle) - self.m3
        # Past pi the cosine would rise again and reward a worse angle; continue monotonically instead.
        fallback = target_cos - self.m3 - math.sin(self.m2) * self.m2 - (self.m1 - 1.0)
        target = torch.where(angle <= math.pi, with_margin, fallback)
        return self.s * cos.scatter(1, labels[:, None], target)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(embeddings, labels), labels)
