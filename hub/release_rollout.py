"""Rolling out a retrained model: the model to every target first, then its gallery, canaries first.

A device stages a new model (downloads, verifies, proves it runs) and reports `verifying`; only the gallery
made with that model switches the pair in. So the model goes to every target at once (staging changes
nothing a device does), and the gallery, which is what switches, goes through the canary phase: canaries
switch first and health-check; one that fails rolls back on the device and halts the gallery rollout, and
the rest of the fleet never switches. The gallery phase starts only once every target has staged the
model: each device has one retained announcement topic, so a device that was offline would otherwise see
the gallery before the model it needs. Pending releases live in memory; a hub restart while one waits
leaves the model staged and the gallery to be rolled out by hand.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, replace
from typing import Literal

from hub.rollout import FAILED, RolloutEngine

log = logging.getLogger(__name__)

STAGED = frozenset({"verifying", "applied"})
ReleaseState = Literal["staging", "switching", "aborted"]


@dataclass(frozen=True)
class ReleaseRollout:
    """One release being rolled out: a retrained model staged on every target, then its gallery."""

    id: str
    model_version: str
    gallery_version: str
    targets: tuple[str, ...]
    canaries: tuple[str, ...]
    canary_timeout_s: float
    model_rollout_id: str
    gallery_rollout_id: str = ""
    state: ReleaseState = "staging"
    detail: str = ""


class ReleaseRollouts:
    def __init__(self, engine: RolloutEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._releases: dict[str, ReleaseRollout] = {}

    def start(self, model_version: str, gallery_version: str, targets: list[str], canaries: list[str],
              canary_timeout_s: float) -> ReleaseRollout:
        model = self.engine.start("model", model_version, targets, [], canary_timeout_s)
        release = ReleaseRollout(uuid.uuid4().hex[:12], model_version, gallery_version, tuple(targets), tuple(canaries),
                          canary_timeout_s, model.id)
        with self._lock:
            self._releases[release.id] = release
        return release

    def tick(self) -> None:
        """Start the gallery phase of releases whose model every target has staged; abort on a failure."""
        with self._lock:
            waiting = [r for r in self._releases.values() if r.state == "staging"]
        for release in waiting:
            devices = self.engine.get(release.model_rollout_id).devices
            failed = [d.device_id for d in devices if d.state in FAILED]
            if failed:
                self._update(release, state="aborted", detail=f"model not staged on {', '.join(failed)}")
            elif all(d.state in STAGED for d in devices):
                gallery = self.engine.start("gallery", release.gallery_version, list(release.targets),
                                            list(release.canaries), release.canary_timeout_s)
                log.info("release %s: model staged everywhere, gallery rollout %s", release.id, gallery.id)
                self._update(release, state="switching", gallery_rollout_id=gallery.id,
                             detail="model staged on every target")

    def list(self) -> list[ReleaseRollout]:
        with self._lock:
            return list(self._releases.values())

    def _update(self, release: ReleaseRollout, **changes: object) -> None:
        with self._lock:
            self._releases[release.id] = replace(release, **changes)  # type: ignore[arg-type]
