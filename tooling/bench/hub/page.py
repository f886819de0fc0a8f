"""Page weight and time to a drawn view of the hub's page (`facefleet bench hub page`).

Runs a real hub (uvicorn on a free port, temporary data folder) holding `people` people and `events` live
track events (four per track: started, identity confirmed twice, ended with a 112x112 JPEG crop, as agents
send them), then loads the Live and People views in headless Chromium with the browser cache off, several
times each. Reported per view (medians over the loads): bytes transferred (the page, its scripts and styles,
the API answers and images: the Resource Timing API's transferSize) and the time from navigation start until
the view says it has drawn its data (`performance.mark("view-rendered:<view>")`, set by the page itself).
"""

from __future__ import annotations

import base64
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import cv2
import numpy as np

from facefleet.wire import TrackEvent
from hub.service import Hub
from tooling.bench.hub.served import served_hub
from tooling.screenshots import headless_chrome, open_view, sign_in

VIEWS = ("live", "people")
EVENTS_PER_TRACK = 4
PAGE_FIGURES = """
const nav = performance.getEntriesByType("navigation")[0];
const resources = performance.getEntriesByType("resource");
const mark = performance.getEntriesByName("view-rendered:" + arguments[0])[0];
return {bytes: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
        requests: 1 + resources.length, rendered_ms: mark ? mark.startTime : -1,
        dom_ready_ms: nav.domContentLoadedEventEnd};
"""


@dataclass
class ViewFigures:
    view: str
    bytes: int
    requests: int
    rendered_ms: float
    dom_ready_ms: float
    rows: int = field(default=0)


@dataclass
class PageFigures:
    people: int
    events: int
    loads: int
    views: list[ViewFigures]

    def lines(self) -> list[str]:
        head = f"hub page with {self.people} people and {self.events} live events (median of {self.loads} cold loads):"
        return [head] + [
            f"  {v.view}: {v.bytes / 1024:.1f} KiB in {v.requests} requests, DOM ready "
            f"{v.dom_ready_ms:.0f} ms, view drawn {v.rendered_ms:.0f} ms ({v.rows} rows/cards)"
            for v in self.views
        ]


def crop_b64(seed: int) -> str:
    """A 112x112 JPEG (base64) the size of an agent's face crop (about 5 KB): a gradient with a little noise."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 200, 112, dtype=np.float32)
    image = (ramp[None, :, None] + ramp[:, None, None] / 3 + rng.normal(0, 6, (112, 112, 3))).clip(0, 255)
    return base64.b64encode(cv2.imencode(".jpg", image.astype(np.uint8))[1].tobytes()).decode()


def seed_events(hub: Hub, people: list[tuple[str | None, str | None]], count: int) -> None:
    """`count` events of count / 4 tracks spread over 4 devices, each track named as one of `people`
    ((id, name), or (None, None) for an unknown face)."""
    t0 = datetime.now(timezone.utc) - timedelta(seconds=count)
    kinds = ("track_started", "identity_confirmed", "identity_confirmed", "track_ended")
    for n in range(count):
        track, step = divmod(n, EVENTS_PER_TRACK)
        person_id, name = people[track % len(people)]
        at = t0 + timedelta(seconds=n)
        ended = kinds[step] == "track_ended"
        hub.events.add(
            TrackEvent.model_validate(
                {
                    "event_id": f"bench-{n:06d}",
                    "seq": step + 1,
                    "type": kinds[step],
                    "device_id": f"door-{track % 4}",
                    "camera": "front",
                    "track_id": track,
                    "ts": at,
                    "started_at": at - timedelta(seconds=step),
                    "ended_at": at if ended else None,
                    "duration_s": float(step) if ended else None,
                    "person_id": person_id,
                    "name": name,
                    "confidence": 0.7,
                    "frames": 10 * (step + 1),
                    "model_id": "sface",
                    "gallery_version": "1",
                    "votes": {},
                    "liveness": None,
                    "best_crop_jpeg_b64": crop_b64(track) if ended else None,
                }
            )
        )


def measure(url: str, token: str, view: str, loads: int) -> ViewFigures:
    driver = headless_chrome()
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        sign_in(driver, url, token)
        runs = []
        for _ in range(loads):
            open_view(driver, url, view, view)
            runs.append(driver.execute_script(PAGE_FIGURES, view))
        rows = driver.execute_script(
            "return document.querySelectorAll('[data-view=\"' + arguments[0] + '\"] tbody tr').length;", view
        )
    finally:
        driver.quit()
    return ViewFigures(
        view,
        int(statistics.median(r["bytes"] for r in runs)),
        int(statistics.median(r["requests"] for r in runs)),
        statistics.median(r["rendered_ms"] for r in runs),
        statistics.median(r["dom_ready_ms"] for r in runs),
        int(rows),
    )


def run_page_bench(people: int = 200, events: int = 1000, loads: int = 5) -> PageFigures:
    with served_hub(live_events=max(events, 1)) as (hub, settings):
        named = [hub.library.create_person(f"Person {n:04d}") for n in range(people)]
        seed_events(hub, [(p.id, p.name) for p in named] or [(None, None)], events)
        _, token = hub.tokens.create("bench", ["enroll"])
        views = [measure(settings.base_url, token, view, loads) for view in VIEWS]
    return PageFigures(people, events, loads, views)
