"""numpy's BLAS on one thread where the caller runs its own threads (the agent, its benchmarks).

The agent's parallelism is explicit: the detector's CPU lanes, the camera readers, the outbox. OpenBLAS
would split each small product of the per-frame path (a template against the impostor cohort: 1 x 128 by
128 x 1,000) over every core, and its workers then busy-wait for the next call, holding the cores the
detector's lanes need: on the 2-core development CPU, five tracked faces matched against a 30-person gallery
with its cohort cost the detector 20 % of its speed (27-29 against 34-39 fps, `facefleet bench edge`),
and nothing with BLAS on one thread (33-37 fps against 32-38).
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def single_threaded_blas() -> None:
    """Limit every BLAS library loaded in this process (numpy's OpenBLAS) to one thread, for good."""
    threadpool_limits(limits=1, user_api="blas")
