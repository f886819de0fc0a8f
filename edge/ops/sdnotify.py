"""systemd readiness and watchdog pings over $NOTIFY_SOCKET, with a plain datagram socket.

The unit runs with Type=notify and WatchdogSec: systemd treats the agent as started only after READY=1 and
restarts it when WATCHDOG=1 stops arriving, which catches a frame loop stuck in a camera read or a GPU call
(a live process with a dead loop, the failure Restart=on-failure alone misses). Ping from the frame loop,
not from a timer thread, or a hung loop keeps being reported healthy. Outside systemd every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification ("READY=1", "WATCHDOG=1", "STATUS=...", newline-separated for several).

    Returns False when not started by systemd (no NOTIFY_SOCKET). An address starting with "@" is Linux's
    abstract namespace (a leading NUL byte on the wire).
    """
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(address)
        sock.sendall(state.encode())
    return True


def ready(status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """systemd's WatchdogSec in seconds, when it applies to this process (WATCHDOG_PID absent or ours)."""
    env = environ if environ is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6


class WatchdogPinger:
    """Rate-limited WATCHDOG=1 for a hot loop: call `ping()` every frame, it sends at most once per half
    watchdog interval (systemd's advice), so a 30 fps loop costs one syscall every few seconds."""

    def __init__(self, environ: Mapping[str, str] | None = None, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.environ = dict(environ if environ is not None else os.environ)
        interval = watchdog_interval_s(self.environ)
        self.period_s = interval / 2 if interval else None
        self.clock = clock
        self.last_sent = float("-inf")

    def ping(self) -> bool:
        """True when a ping was sent now."""
        if self.period_s is None:
            return False
        now = self.clock()
        if now - self.last_sent < self.period_s:
            return False
        self.last_sent = now
        return notify("WATCHDOG=1", self.environ)
