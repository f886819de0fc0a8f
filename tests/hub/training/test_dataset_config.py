"""Enrolled people -> held-out split, and the job config's checks."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from hub.training.config import TrainingConfig
from hub.training.dataset import BatchSampler, NotEnoughPeopleError, PersonSamples, split_people


def _person(pid: str, k: int) -> tuple[str, np.ndarray]:
    return pid, np.full((k, 112, 112, 3), len(pid), np.uint8)


def test_split_holds_out_per_person() -> None:
    split = split_people([_person("a", 8), _person("bb", 2), _person("ccc", 1)], held_out_fraction=0.25)
    assert split.person_ids == ("a", "bb")  # "ccc" has one sample: nothing to hold out
    assert np.bincount(split.held_out_labels).tolist() == [2, 1]
    assert np.bincount(split.train_labels).tolist() == [6, 1]


@pytest.mark.parametrize(
    "people",
    [
        [],  # nobody enrolled
        [_person("a", 10)],  # one person: nothing to tell apart
        [_person("a", 10), _person("b", 1)],  # the second has too few samples
    ],
)
def test_too_few_people_is_a_clear_error(people: list[tuple[str, np.ndarray]]) -> None:
    with pytest.raises(NotEnoughPeopleError, match="at least 2 people"):
        split_people(people, held_out_fraction=0.25)


def test_crops_are_checked() -> None:
    with pytest.raises(ValueError, match="uint8"):
        PersonSamples("a", np.zeros((2, 112, 112, 3), np.float32))


def test_sampler_covers_every_sample_each_pass() -> None:
    sampler = BatchSampler(np.arange(10), batch_size=5, seed=0)
    assert sorted(np.r_[sampler.next_indices(), sampler.next_indices()].tolist()) == list(range(10))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_steps": 10, "eval_every": 20}, "exceeds max_steps"),
        ({"patience_steps": 10, "eval_every": 50}, "shorter than eval_every"),
        ({"margin": "sphereface"}, "margin"),
        ({"learning_rate": 0.1}, "Extra inputs"),  # unknown keys are refused
        ({"min_people": 1}, "min_people"),
    ],
)
def test_config_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TrainingConfig(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "m123"),
    [
        ({}, (1.0, 0.5, 0.0)),  # arcface by default
        ({"margin": "cosface", "margin_m": 0.35}, (1.0, 0.0, 0.35)),
        ({"margin": "combined"}, (1.0, 0.3, 0.2)),
    ],
)
def test_margin_parameters(fields: dict[str, object], m123: tuple[float, float, float]) -> None:
    config = TrainingConfig(**fields)  # type: ignore[arg-type]
    assert config.margins_m123 == m123
    assert config.patience_steps == 300
