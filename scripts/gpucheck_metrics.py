"""Pure measures for the GPU check: embedding agreement, box agreement, LFW fold accuracy, the table.

Kept apart from `gpu_check.py` so the CPU tests cover every number the GPU run prints.
"""

from __future__ import annotations

import numpy as np


def row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D), (N, D) -> (N,) cosine of each row pair (rows need not be unit length)."""
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosines: np.ndarray = num / np.maximum(den, 1e-12)
    return cosines


def box_agreement(ref_xyxy: np.ndarray, xyxy: np.ndarray) -> tuple[int, float]:
    """Match each reference box to the nearest candidate (by corner distance).

    Returns (number of unmatched boxes on either side, largest corner difference in px over the matches);
    (0, 0.0) means the same faces at the same place.
    """
    if len(ref_xyxy) == 0 or len(xyxy) == 0:
        return abs(len(ref_xyxy) - len(xyxy)), 0.0
    dist = np.abs(ref_xyxy[:, None, :] - xyxy[None, :, :]).max(2)
    used: set[int] = set()
    worst = 0.0
    for i in np.argsort(dist.min(1)):
        order = [j for j in np.argsort(dist[i]) if j not in used]
        if not order:
            break
        used.add(int(order[0]))
        worst = max(worst, float(dist[i, order[0]]))
    return abs(len(ref_xyxy) - len(xyxy)), worst


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The similarity threshold with the highest accuracy on these pairs (midpoints between scores)."""
    ordered = np.sort(scores)
    candidates = np.concatenate([[ordered[0] - 1e-6], (ordered[1:] + ordered[:-1]) / 2, [ordered[-1] + 1e-6]])
    accuracies = [((scores > t) == same).mean() for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def kfold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> float:
    """LFW protocol: for each fold, threshold chosen on the other folds, accuracy on this one; the mean.

    With a single fold the threshold is chosen on that fold itself (optimistic; the table says so).
    """
    same = same.astype(bool)
    fold_ids = np.unique(folds)
    if len(fold_ids) == 1:
        return float(((scores > best_threshold(scores, same)) == same).mean())
    accuracies = []
    for fold in fold_ids:
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        accuracies.append(((scores[test] > threshold) == same[test]).mean())
    return float(np.mean(accuracies))


def format_table(rows: list[dict[str, object]], columns: list[str]) -> str:
    """A plain text table; missing cells print as '-'. Floats keep the precision they were given as str."""
    cells = [[str(row.get(c, "-")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)
