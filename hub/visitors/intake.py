"""Track events into the visitor store and the suggestions; the retention purge and re-clustering on a clock.

Called from the hub's ticker (`tick`) and, for each track event, from `IntakeThread` (events reach it from
the MQTT link's thread through a bounded queue, so that storing a track and judging a suggestion, which
embeds its crop and may run the enrollment path, never hold the network thread). Events without a template
(older agents, or tracks that were never embedded) only feed the names a live track has shown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from facefleet.wire import TrackEvent
from hub.db import utc_now
from hub.errors import NotFoundError
from hub.pg_pool import StoreUnavailable
from hub.settings import VisitorConfig
from hub.visitors.maintenance import PurgeReport, purge, recluster_all, recover
from hub.visitors.records import EndedTrack, TrackRecord, VisitorBudgetError, VisitorError
from hub.visitors.store import VisitorStore
from hub.visitors.suggestions import Suggestions, TrackNames

log = logging.getLogger(__name__)
CropEnroller = Callable[[str, list[tuple[str, bytes]]], tuple[int, str]]
"""(person name, [(file name, JPEG)]) -> (samples added, why not when 0), through the enrollment path."""


@dataclass
class IntakeCounts:
    """Since start: tracks stored (unknown, named), repeats, refused templates, suggestions, purged tracks,
    events dropped because the intake queue was full, events whose intake failed (a full disk, ...), unknown
    tracks not stored because their device founded its hour's visitors already."""

    unknown: int = 0
    named: int = 0
    repeats: int = 0
    refused: int = 0
    suggested: int = 0
    auto_accepted: int = 0
    purged: int = 0
    dropped: int = 0
    failed: int = 0
    over_budget: int = 0


class VisitorIntake:
    def __init__(
        self, store: VisitorStore, suggestions: Suggestions, config: VisitorConfig, enroll_crops: CropEnroller
    ) -> None:
        self.store = store
        self.suggestions = suggestions
        self.config = config
        self.enroll_crops = enroll_crops
        self.names = TrackNames()
        self.counts = IntakeCounts()
        self.not_suggested: Counter[str] = Counter()  # named tracks not offered, by the rule that refused
        self.last_purge: PurgeReport | None = None
        self._next_purge = time.monotonic() + config.purge_every_s  # the first purge runs in `start`
        self._next_recluster = time.monotonic() + config.recluster_every_s

    def on_event(self, event: TrackEvent) -> TrackRecord | None:
        """Store a `track_ended` event's track (and maybe a suggestion); None when nothing was stored."""
        if not self.config.enabled:
            return None
        names = self.names.observe(event)
        track = EndedTrack.from_event(event)
        if track is None:
            return None
        if track.person_id is not None and not self._known(track.person_id):
            track = track.model_copy(update={"person_id": None})  # named for a deleted person: a stranger now
        try:
            stored = self.store.add(track)
        except VisitorBudgetError as exc:
            self.counts.over_budget += 1
            if _log_turn(self.counts.over_budget):
                log.warning("track %s not stored: %s (%d so far)", event.event_id, exc, self.counts.over_budget)
            return None
        except VisitorError as exc:
            self.counts.refused += 1
            if _log_turn(self.counts.refused):
                log.warning("track %s from %s refused: %s", event.event_id, event.device_id, exc)
            return None
        if stored is None:
            self.counts.repeats += 1
            return None
        if track.person_id is None:
            self.counts.unknown += 1
        else:
            self.counts.named += 1
            self._suggest(track, event.votes, names)
        return stored

    def _known(self, person_id: str) -> bool:
        """Whether the library has this person (an agent on an older gallery still names deleted people)."""
        try:
            self.suggestions.library.person(person_id)
        except NotFoundError:
            return False
        return True

    def _suggest(self, track: EndedTrack, votes: dict[str, int], names: set[str]) -> None:
        if (why := self.suggestions.consider(track, votes, names)) is not None:
            self.not_suggested[why] += 1
            return
        self.counts.suggested += 1
        if self.config.suggest.auto_accept:
            self._auto_accept(track)

    def _auto_accept(self, track: EndedTrack) -> None:
        """Accept within the stated bounds: per person per day, the enrollment path's checks and cap."""
        assert track.person_id is not None and track.crop_jpeg is not None
        if self.suggestions.auto_accepted_since(track.person_id, utc_now()) >= self.config.suggest.auto_accept_per_day:
            return
        try:
            name = self.suggestions.library.person(track.person_id).name
        except NotFoundError:
            return
        added, why = self.enroll_crops(name, [(f"track-{track.event_id}.jpg", track.crop_jpeg)])
        self.suggestions.decide(track.event_id, "accepted" if added else "rejected", auto=True, detail=why)
        self.counts.auto_accepted += added

    def start(self) -> PurgeReport:
        """At hub start: remove orphan crops, then purge what expired while the hub was down."""
        if removed := recover(self.store):
            log.warning("visitor recovery: %d crop files without a row removed", removed)
        return self.purge()

    def purge(self, now: datetime | None = None) -> PurgeReport:
        report = purge(self.store, now or utc_now())
        self.counts.purged += report.tracks
        self.last_purge = report
        if report.tracks:
            log.info("retention: %d tracks and %d visitors purged", report.tracks, report.visitors)
        return report

    def tick(self) -> None:
        """From the hub's ticker: purge when due (or past `max_tracks`), re-cluster when due."""
        now = time.monotonic()
        if now >= self._next_purge or self.store.count()[1] > self.config.max_tracks:
            self._next_purge = now + self.config.purge_every_s
            self.purge()
        if self.config.enabled and now >= self._next_recluster:
            self._next_recluster = now + self.config.recluster_every_s
            for report in recluster_all(self.store):
                log.info(
                    "re-clustering %s: %d tracks, %d moved, %d -> %d visitors%s",
                    report.model_id,
                    report.tracks,
                    report.moved,
                    report.visitors_before,
                    report.visitors_after,
                    "" if report.applied else " (skipped: the store changed meanwhile)",
                )


class IntakeThread:
    """Track events into `VisitorIntake.on_event` on a thread of its own, in arrival order.

    capacity: events waiting at most (each under 128 KiB: 32 MiB at 256); past it a new event is dropped and
    counted (`IntakeCounts.dropped`) rather than holding the caller, the MQTT link's network thread.
    retry_s: while the database server is away (`StoreUnavailable`), the event in hand is tried again this
        often, and the others wait in the queue: an event the MQTT link acknowledged is not lost to a restart.
    """

    def __init__(self, intake: VisitorIntake, capacity: int = 256, retry_s: float = 0.5) -> None:
        self.intake = intake
        self.retry_s = retry_s
        self._queue: queue.Queue[TrackEvent | None] = queue.Queue(capacity)
        self._thread = threading.Thread(target=self._run, name="visitor-intake", daemon=True)
        self._stopping = threading.Event()

    def submit(self, event: TrackEvent) -> bool:
        """Queue an event; False (counted, logged at a bounded rate) when the queue is full."""
        try:
            self._queue.put_nowait(event)
            return True
        except queue.Full:
            self.intake.counts.dropped += 1
            if _log_turn(self.intake.counts.dropped):
                log.warning(
                    "visitor intake busy: event %s from %s dropped (%d so far)",
                    event.event_id,
                    event.device_id,
                    self.intake.counts.dropped,
                )
            return False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Finish the events already queued, then end the thread."""
        if self._thread.is_alive():
            self._stopping.set()
            self._queue.put(None)
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._take(event)
            except Exception:  # a failure must not end the thread, nor flood the log
                self.intake.counts.failed += 1
                if _log_turn(self.intake.counts.failed):
                    log.exception(
                        "visitor intake of event %s from %s failed (%d so far)",
                        event.event_id,
                        event.device_id,
                        self.intake.counts.failed,
                    )

    def _take(self, event: TrackEvent) -> None:
        """One event into the intake, tried again while the store is unavailable (until the hub stops). Safe to
        repeat: a track is stored once by its event id, so a second try after a commit whose answer was lost
        counts a repeat."""
        while True:
            try:
                self.intake.on_event(event)
                return
            except StoreUnavailable:
                if self._stopping.is_set():
                    raise
                log.warning("visitor intake of event %s waits for the database", event.event_id)
                time.sleep(self.retry_s)


def _log_turn(count: int) -> bool:
    """Log the first 20 of a kind of trouble, then every 1000th."""
    return count <= 20 or count % 1000 == 0
