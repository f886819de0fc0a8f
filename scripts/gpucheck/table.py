"""The check's rows, their gates and the printed table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.eval.verification import kfold_verification

COSINE_GATE = 0.999  # a float GPU path must give the reference's embeddings


@dataclass
class Row:
    """One line of the table. `ips` maps batch size -> items per second; `gate` is pass, FAIL ..., n/a."""

    check: str
    backend: str = ""
    ips: dict[int, float] = field(default_factory=dict)
    cos_min: float | None = None
    lfw_acc: float | None = None
    lfw_delta_points: float | None = None
    value: str = ""
    gate: str = ""
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.gate.startswith("FAIL")


def not_available(check: str, backend: str, reason: str) -> Row:
    return Row(check, backend, gate="n/a", note=f"not available: {reason}")


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of each row of a (N, D) with the same row of b."""
    cos: np.ndarray = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return cos


def lfw_accuracy(embeddings: np.ndarray, pairs: np.ndarray, folds: np.ndarray) -> float:
    """The README's protocol (`models.eval.verification.kfold_verification`, same iff cosine >= threshold,
    threshold chosen on the other folds; one fold alone chooses its own)."""
    scores = row_cosines(embeddings[pairs[:, 0]], embeddings[pairs[:, 1]])
    return kfold_verification(scores, pairs[:, 2].astype(bool), folds).accuracy


def gate_float(row: Row) -> Row:
    """FP32/FP16 paths: every embedding within the cosine gate of the reference's."""
    if row.cos_min is not None:
        row.gate = "pass" if row.cos_min >= COSINE_GATE else f"FAIL cos < {COSINE_GATE}"
    return row


def gate_int8(row: Row, max_drop_points: float) -> Row:
    """INT8 paths gate a release like the retraining LFW gate: accuracy may fall by at most max_drop_points."""
    if row.lfw_delta_points is not None:
        row.gate = "pass" if row.lfw_delta_points >= -max_drop_points else f"FAIL lfw drop > {max_drop_points}"
    return row


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def _rate(value: float | None) -> str:
    return _cell(value, "{:.0f}" if value is None or value >= 10 else "{:.2g}")


def format_table(rows: list[Row], batches: list[int]) -> str:
    header = ["check", "backend", *[f"b{b}/s" for b in batches], "cos_min", "lfw", "d_lfw", "value", "gate", "note"]
    cells = [header]
    for r in rows:
        cells.append(
            [
                r.check,
                r.backend or "-",
                *[_rate(r.ips.get(b)) for b in batches],
                _cell(r.cos_min, "{:.5f}"),
                _cell(r.lfw_acc, "{:.2%}"),
                _cell(r.lfw_delta_points, "{:+.2f}"),
                r.value or "-",
                r.gate or "-",
                r.note or "-",
            ]
        )
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip() for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
