"""Starting a program's parts in order and stopping them in exact reverse.

A part is a name with a start and a stop (either may be nothing). `Lifecycle.start` starts the parts one by
one and remembers each once started; `stop` stops those, last started first, so a part never outlives what
it uses, and a part that failed to start is not stopped (the ones before it are). A part's stop that fails
is logged and the others still stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)
Step = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


def blocking(call: Callable[[], object]) -> Step:
    """A blocking call as a step: it runs in a worker thread, off the event loop."""

    async def step() -> None:
        await asyncio.to_thread(call)

    return step


@dataclass(frozen=True)
class Part:
    name: str
    start: Step = _nothing
    stop: Step = _nothing


class Lifecycle:
    def __init__(self) -> None:
        self._started: list[Part] = []

    @property
    def started(self) -> list[str]:
        """The names of the parts started, in the order they started."""
        return [part.name for part in self._started]

    async def start(self, parts: Sequence[Part]) -> None:
        for part in parts:
            await part.start()
            self._started.append(part)

    async def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %s failed; stopping the rest", part.name)


class Ticker:
    """Calls each tick function in a worker thread every `period_s` seconds while started (rollouts' and
    releases' timeouts, the visitors' purge, collections' expiry); one that fails is logged and the others
    still run."""

    def __init__(self, ticks: Sequence[Callable[[], object]], period_s: float = 1.0) -> None:
        self.ticks = list(ticks)
        self.period_s = period_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            for tick in self.ticks:
                try:
                    await asyncio.to_thread(tick)
                except Exception:
                    log.exception("periodic %s failed", getattr(tick, "__qualname__", tick))
