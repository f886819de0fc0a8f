import numpy as np

from models.eval.verification import best_threshold, kfold_verification, roc, tar_at_far


def test_perfectly_separated_scores() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0])
    same = np.array([True, True, True, False, False, False])
    assert 0.2 < best_threshold(scores, same) < 0.7
    metrics = kfold_verification(scores, same, np.array([0, 0, 1, 1, 2, 2]))
    assert metrics.accuracy == 1.0
    assert tar_at_far(scores, same, 0.0) == 1.0


def test_one_impostor_above_all_genuines_costs_tar_at_zero_far() -> None:
    scores = np.array([0.99, 0.9, 0.8, 0.1])
    same = np.array([False, True, True, False])
    assert tar_at_far(scores, same, 0.0) == 0.0
    assert tar_at_far(scores, same, 0.5) == 1.0


def test_roc_is_monotone_and_ends_at_one() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    same = rng.random(200) > 0.5
    fpr, tpr, thresholds = roc(scores, same)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert fpr[-1] == 1.0 and tpr[-1] == 1.0 and np.all(np.diff(thresholds) < 0)


def test_random_scores_give_chance_accuracy() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(2000)
    same = rng.random(2000) > 0.5
    metrics = kfold_verification(scores, same, np.arange(2000) % 10)
    assert 0.4 < metrics.accuracy < 0.6
