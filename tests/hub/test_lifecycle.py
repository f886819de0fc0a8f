"""Parts start in order and stop in exact reverse; a failed start stops only what started before it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hub.lifecycle import Lifecycle, Part, Step, Ticker, blocking


def _parts(calls: list[str], names: list[str], failing_start: str = "", failing_stop: str = "") -> list[Part]:
    def step(what: str, fails: bool) -> Step:
        def call() -> None:
            calls.append(what)
            if fails:
                raise RuntimeError(what)

        return blocking(call)

    return [
        Part(name, step(f"start {name}", name == failing_start), step(f"stop {name}", name == failing_stop))
        for name in names
    ]


def test_stop_is_the_exact_reverse_of_start() -> None:
    calls: list[str] = []
    lifecycle = Lifecycle()
    asyncio.run(lifecycle.start(_parts(calls, ["db", "link", "ticker"])))
    assert lifecycle.started == ["db", "link", "ticker"]
    asyncio.run(lifecycle.stop())
    assert calls == ["start db", "start link", "start ticker", "stop ticker", "stop link", "stop db"]
    assert lifecycle.started == []


def test_a_part_that_fails_to_start_is_not_stopped_the_ones_before_it_are() -> None:
    calls: list[str] = []
    lifecycle = Lifecycle()
    with pytest.raises(RuntimeError, match="start link"):
        asyncio.run(lifecycle.start(_parts(calls, ["db", "link", "ticker"], failing_start="link")))
    asyncio.run(lifecycle.stop())
    assert calls == ["start db", "start link", "stop db"]


def test_a_failing_stop_is_logged_and_the_rest_still_stop(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    lifecycle = Lifecycle()
    asyncio.run(lifecycle.start(_parts(calls, ["db", "link", "ticker"], failing_stop="link")))
    with caplog.at_level(logging.ERROR, "hub.lifecycle"):
        asyncio.run(lifecycle.stop())
    assert calls[3:] == ["stop ticker", "stop link", "stop db"]
    assert "stopping link failed" in caplog.text


def test_a_failing_tick_does_not_stop_the_others() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise RuntimeError("tick")

    async def two_rounds() -> None:
        ticker = Ticker([broken, lambda: ran.append("expire")], period_s=0.0)
        await ticker.start()
        while len(ran) < 2:
            await asyncio.sleep(0)
        await ticker.stop()

    asyncio.run(two_rounds())
    assert ran[:2] == ["expire", "expire"]
