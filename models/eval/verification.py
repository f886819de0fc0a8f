"""Verification metrics: k-fold accuracy with the threshold chosen on the other folds, TAR at FAR, ROC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VerificationMetrics:
    accuracy: float
    accuracy_std: float
    threshold: float
    tar_at_far: dict[float, float]
    fpr: np.ndarray
    tpr: np.ndarray


def roc(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds descending: a pair is 'same' when score >= threshold."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last = np.r_[np.diff(s) != 0, True]  # one point per distinct score
    tpr = np.r_[0.0, tp[last] / max(int(y.sum()), 1)]
    fpr = np.r_[0.0, fp[last] / max(int((~y).sum()), 1)]
    return fpr, tpr, np.r_[np.inf, s[last]]


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """Highest true-accept rate whose false-accept rate does not exceed `far`."""
    fpr, tpr, _ = roc(scores, same)
    ok = fpr <= far
    return float(tpr[ok].max()) if ok.any() else 0.0


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold maximising accuracy on these pairs (midpoint between neighbouring scores)."""
    candidates = np.unique(scores)
    mids = np.r_[candidates[0] - 1e-6, (candidates[:-1] + candidates[1:]) / 2, candidates[-1] + 1e-6]
    accuracy = [((scores >= t) == same).mean() for t in mids]
    return float(mids[int(np.argmax(accuracy))])


def kfold_verification(
    scores: np.ndarray, same: np.ndarray, fold: np.ndarray, fars: tuple[float, ...] = (1e-3, 1e-2)
) -> VerificationMetrics:
    """Standard LFW protocol: for each fold, pick the threshold on the other folds, test on this one."""
    accuracies, thresholds = [], []
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        t = best_threshold(scores[train], same[train]) if train.any() else best_threshold(scores, same)
        thresholds.append(t)
        accuracies.append(float(((scores[test] >= t) == same[test]).mean()))
    fpr, tpr, _ = roc(scores, same)
    return VerificationMetrics(
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        threshold=float(np.mean(thresholds)),
        tar_at_far={far: tar_at_far(scores, same, far) for far in fars},
        fpr=fpr,
        tpr=tpr,
    )
