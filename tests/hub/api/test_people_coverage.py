"""Each person's coverage over real HTTP, from real photos: one photo, two, several of one LFW person."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from hub.library.coverage import ADVICE
from tests.conftest import LFW
from tests.hub.conftest import HubServer

POWELL = [LFW / "images_deepfunneled" / "Colin_Powell" / f"Colin_Powell_{n:04d}.jpg" for n in range(1, 5)]


def enroll(client: httpx.Client, label: str, paths: list[Path]) -> dict[str, Any]:
    files = [("files", (p.name, p.read_bytes(), "image/png" if p.suffix == ".png" else "image/jpeg")) for p in paths]
    response = client.post("/api/samples/photos", data={"label": label}, files=files)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    assert answer["faces_extracted"] == len(paths)
    return answer


def test_coverage_levels_over_http(hub_server: HubServer, shared_data: Path) -> None:
    people = shared_data / "clips" / "people"
    with hub_server.client(hub_server.enroll) as client:
        nobody = client.post("/api/people", json={"name": "Nobody Yet"}).json()
        assert nobody["coverage"] == {
            "samples": 0,
            "views": 0,
            "spread": 0.0,
            "level": "none",
            "advice": ADVICE["none"],
        }
        # the enrollment answer carries the person's coverage after the upload
        lin = enroll(client, "Lin-Manuel Miranda", [people / "lin_manuel_miranda" / "lin-manuel-miranda.png"])
        assert lin["person"]["coverage"] | {"advice": ""} == {
            "samples": 1,
            "views": 1,
            "spread": 0.0,
            "level": "one_view",
            "advice": "",
        }
        obama = enroll(client, "Barack Obama", [people / "obama" / "obama.jpg", people / "obama" / "obama2.jpg"])
        assert obama["person"]["coverage"]["views"] == 3  # the mean and both photos
        assert obama["person"]["coverage"]["level"] == "few_views"
        powell = enroll(client, "Colin Powell", POWELL)
        assert powell["person"]["coverage"]["views"] == 5  # the mean and four photos of four occasions
        assert powell["person"]["coverage"]["level"] == "good"

        listed = client.get("/api/people").json()
        assert {p["name"]: p["coverage"]["level"] for p in listed} == {
            "Barack Obama": "few_views",
            "Colin Powell": "good",
            "Lin-Manuel Miranda": "one_view",
            "Nobody Yet": "none",
        }
        for person in listed:  # one read for the list, one per person: the same answer
            alone = client.get(f"/api/people/{person['id']}").json()
            assert alone["coverage"] == person["coverage"]
            assert alone["coverage"]["advice"] == ADVICE[alone["coverage"]["level"]]
            assert alone["coverage"]["samples"] == alone["samples"]

        # coverage follows the library: Colin Powell down to one photo is one view again
        powell_id = powell["person"]["id"]
        samples = client.get("/api/samples", params={"person_id": powell_id}).json()
        assert client.post("/api/samples/delete", json={"ids": [s["id"] for s in samples[1:]]}).status_code == 200
        renamed = client.patch(f"/api/people/{powell_id}", json={"name": "Colin L. Powell"}).json()
        assert (renamed["coverage"]["samples"], renamed["coverage"]["level"]) == (1, "one_view")
