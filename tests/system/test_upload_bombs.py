"""Small uploads that declare huge images or frames or lie about them, and large bodies without a token,
against a real hub process: each is refused with a clear 4xx (or decoded reduced), and the hub's peak RSS
(VmHWM) rises by less than RSS_RISE_BOUND_MB above its level after an ordinary 1080p enrollment. A 1:N search
sent during a long enrollment answers before it ends."""

from __future__ import annotations

from pathlib import Path

from tests.system.conftest import System
from tooling.bench.hub.uploads import run_upload_bench

# An ordinary 1080p photo costs about 150 MB of detector pyramids; a bomb may cost no more than 100 MB above
# the peak that photo left (before the budget the hub rose by 2-5 GB on these files; before the per-frame
# check a lying Motion-JPEG cost +282 MB, four at once +1050 MB; an unauthenticated 200 MB body +527 MB).
RSS_RISE_BOUND_MB = 100


def test_upload_bombs_keep_memory_flat_and_search_has_its_own_path(fleet: System, shared_data: Path) -> None:
    figures = run_upload_bench(fleet.procs, fleet.workdir, shared_data)
    for line in figures.lines():
        print(line)
    by_what = {p.what.split(" of ")[0]: p for p in figures.probes}
    for probe in figures.probes:
        assert probe.peak_rise_mb < RSS_RISE_BOUND_MB, probe
    png, five, video = (
        by_what["PNG declaring 6000x6000"],
        by_what["five such PNGs in one request"],
        by_what["8000x6000 mp4"],
    )
    assert png.status == 422 and "bomb.png" in png.detail and "6000x6000" in png.detail, png
    assert five.status == 422 and "bomb0.png" in five.detail, five
    assert video.status == 422 and "8000x6000" in video.detail, video
    large = by_what["6000x6000 JPEG face photo"]
    assert large.status == 201, large  # decoded reduced, the face found
    for what in ("Motion-JPEG declaring 64x64, second frame 16000x16000,", "four such Motion-JPEGs at once"):
        lying = by_what[what]
        assert lying.status == 422 and "frame 1 declares 16000x16000" in lying.detail, lying
    for what in ("200 MB JSON body without a token", "three such bodies at once"):
        assert by_what[what].status == 401, by_what[what]
    assert figures.search_before_enroll_done, "the search waited for the whole enrollment"
