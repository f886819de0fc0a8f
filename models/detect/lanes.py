"""How MTCNN's cascade runs on the CPU: its threads (lanes), the work they share, and the sizes that keep
each net's activations in the core's cache (`CpuExecution`, the detector config's `cpu` block).

Measured on the 2-core AVX-512 CPU while other jobs loaded it (interleaved, median of pair ratios, against
the previous single-caller detector with two intra-op threads per session and batches of 256), on the
bench frames: all three together 1.41x at 640x360 and 1.45x at 1280x720. Alone: two lanes calling
single-thread sessions 1.06-1.16x (intra-op threads meet at every op of these small nets); P-Net on
strips of 16k output cells 1.27x on a 720p frame's largest level (its 10 x 431 x 767 first activation is
13 MB, past the cache), neutral on small levels; R-Net/O-Net 16 crops a call 1.3-1.4x against 200 at once.
8k or 32k cells a strip, and 8 or 32 crops a call, were no better. Every variant gives the same outputs
to the bit: a window's pixels and a crop's arithmetic do not depend on the strip or the batch.
The region search (`detect_in_regions`) shares its P-Net windows among the lanes the same way: 1.50x
(34.8 -> 24.1 ms a frame, 6.9 regions) on the 1080p crowd clip, interleaved, the same faces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Item = TypeVar("Item")
Result = TypeVar("Result")

MIN_ROWS_PER_LANE = 8  # fewer R-Net/O-Net candidates than this per lane cost more in hand-over than they save


class CpuExecution(BaseModel):
    """How the cascade runs where its nets run on onnxruntime's CPU provider (GPU backends ignore it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lanes: int = Field(
        2,
        ge=1,
        le=64,
        description="threads the cascade runs on, each net then with one "
        "intra-op thread: about one per core the detector may use",
    )
    pnet_strip_cells: int = Field(
        16384,
        ge=0,
        le=1 << 24,
        description="P-Net runs on strips of a pyramid level "
        "of about this many output cells, whose activations stay in the core's cache; "
        "0: whole levels",
    )
    crop_batch: int = Field(
        16,
        ge=1,
        le=4096,
        description="R-Net/O-Net crops cut and run at a time in a lane, "
        "small enough for the activations to stay in cache",
    )


class Lanes:
    """`count` threads: the caller's own and count - 1 workers, started once and reused for every frame."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError(f"lanes must be >= 1, got {count}")
        self.count = count
        self._pool = ThreadPoolExecutor(count - 1, thread_name_prefix="mtcnn-lane") if count > 1 else None

    def map(self, work: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        """[work(item) for item in items], at most `count` at once: the first item in this thread, the
        others on the workers. Exceptions propagate; results keep the items' order."""
        if self._pool is None or len(items) <= 1:
            return [work(item) for item in items]
        futures = [self._pool.submit(work, item) for item in items[1:]]
        first = work(items[0])
        return [first, *(future.result() for future in futures)]

    def chunks(self, rows: np.ndarray) -> list[np.ndarray]:
        """Rows (N, ...) cut into up to `count` contiguous chunks in order, each >= MIN_ROWS_PER_LANE rows
        (one chunk, possibly empty, when there are few)."""
        parts = max(1, min(self.count, len(rows) // MIN_ROWS_PER_LANE))
        return np.array_split(rows, parts)


def balanced_groups(costs: Sequence[float], count: int) -> list[list[int]]:
    """Indices of `costs` shared into at most `count` groups of similar total cost: largest first, each to
    the group with the least so far (LPT scheduling). Every index appears once; empty groups are dropped.

    >>> balanced_groups([8, 4, 2, 1, 1], 2)
    [[0], [1, 2, 3, 4]]
    """
    groups: list[list[int]] = [[] for _ in range(max(1, count))]
    totals = [0.0] * len(groups)
    for index in sorted(range(len(costs)), key=lambda i: -costs[i]):
        lightest = totals.index(min(totals))
        groups[lightest].append(index)
        totals[lightest] += costs[index]
    return [group for group in groups if group]
