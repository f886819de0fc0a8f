"""The enrolled people's samples as a training set: validation, a per-person held-out split, batches.

Imported by the hub without the training extra: torch only inside `to_pixels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

CROP_SIZE = 112


class NotEnoughPeopleError(ValueError):
    """Fewer people with enough samples than a training job needs."""


@dataclass(frozen=True)
class PersonSamples:
    """One enrolled person: aligned crops (K, 112, 112, 3) RGB uint8, as the library stores them."""

    person_id: str
    crops_rgb: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        c = self.crops_rgb
        if c.ndim != 4 or c.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or c.dtype != np.uint8:
            raise ValueError(
                f"person {self.person_id}: crops must be (K, {CROP_SIZE}, {CROP_SIZE}, 3) uint8, "
                f"got {c.shape} {c.dtype}"
            )


def as_people(items: Sequence[PersonSamples | tuple[str, np.ndarray]]) -> list[PersonSamples]:
    """Accept `(person_id, crops)` tuples as well as `PersonSamples`."""
    return [i if isinstance(i, PersonSamples) else PersonSamples(i[0], i[1]) for i in items]


@dataclass(frozen=True)
class TrainingSplit:
    """Crops (N, 112, 112, 3) uint8 with labels (N,) indexing `person_ids`, split per person."""

    person_ids: tuple[str, ...]
    names: tuple[str, ...]
    train_crops: np.ndarray
    train_labels: np.ndarray
    held_out_crops: np.ndarray
    held_out_labels: np.ndarray

    @property
    def people(self) -> int:
        return len(self.person_ids)


def split_people(
    items: Sequence[PersonSamples | tuple[str, np.ndarray]],
    held_out_fraction: float,
    min_people: int = 2,
    min_samples: int = 2,
    seed: int = 0,
) -> TrainingSplit:
    """Hold out `held_out_fraction` of each person's samples (at least one, at least one left to train).

    People with fewer than `min_samples` crops are left out; fewer than `min_people` remaining is an error.
    """
    people = as_people(items)
    ids = [p.person_id for p in people]
    if len(set(ids)) != len(ids):
        raise ValueError("person ids must be unique")
    usable = [p for p in people if len(p.crops_rgb) >= min_samples]
    if len(usable) < min_people:
        raise NotEnoughPeopleError(
            f"training needs at least {min_people} people with {min_samples} or more samples each; "
            f"got {len(usable)} (of {len(people)} enrolled)"
        )
    rng = np.random.default_rng(seed)
    train, train_y, held, held_y = [], [], [], []
    for label, person in enumerate(usable):
        order = rng.permutation(len(person.crops_rgb))
        k = min(max(1, round(held_out_fraction * len(order))), len(order) - 1)
        held.append(person.crops_rgb[order[:k]])
        train.append(person.crops_rgb[order[k:]])
        held_y.append(np.full(k, label))
        train_y.append(np.full(len(order) - k, label))
    return TrainingSplit(
        tuple(p.person_id for p in usable),
        tuple(p.name or p.person_id for p in usable),
        np.concatenate(train),
        np.concatenate(train_y).astype(np.int64),
        np.concatenate(held),
        np.concatenate(held_y).astype(np.int64),
    )


def to_pixels(crops_rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, S, S, 3) uint8 RGB -> (N, 3, S, S) float32 0..255: the registry's `data` input (mean 0, std 1)."""
    import torch  # the training extra; the hub imports this module without it

    return torch.from_numpy(np.ascontiguousarray(crops_rgb.transpose(0, 3, 1, 2))).to(device).float()


class BatchSampler:
    """Endless batches of sample indices: one shuffled pass over the training samples after another."""

    def __init__(self, labels: np.ndarray, batch_size: int, seed: int) -> None:
        self.count = len(labels)
        self.batch_size = min(batch_size, self.count)
        self.rng = np.random.default_rng(seed)
        self.queue = np.zeros(0, np.int64)

    def next_indices(self) -> np.ndarray:
        while len(self.queue) < self.batch_size:
            self.queue = np.concatenate([self.queue, self.rng.permutation(self.count)])
        batch, self.queue = self.queue[: self.batch_size], self.queue[self.batch_size :]
        return batch
