"""People and photo enrollment over real HTTP (uvicorn), with real photos and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from tests.hub.conftest import HubServer, library_state


def photo(shared_data: Path, person: str, name: str) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, (shared_data / "clips" / "people" / person / name).read_bytes(), "image/jpeg"))


def test_people_create_rename_list_delete(hub_server: HubServer) -> None:
    with hub_server.client(hub_server.enroll) as client:
        created = client.post("/api/people", json={"name": "Ada"})
        assert created.status_code == 201
        person_id = created.json()["id"]
        assert client.post("/api/people", json={"name": "Ada"}).status_code == 409  # names are unique
        renamed = client.patch(f"/api/people/{person_id}", json={"name": "Ada L."})
        assert renamed.json()["name"] == "Ada L."
        assert [p["name"] for p in client.get("/api/people").json()] == ["Ada L."]
        assert client.delete(f"/api/people/{person_id}").json() == {"deleted": 0, "revoked_galleries": []}
        assert client.get(f"/api/people/{person_id}").status_code == 404
        assert client.post("/api/people", json={"name": "   "}).status_code == 422


def test_enroll_photos_list_thumbnails_delete(hub_server: HubServer, shared_data: Path) -> None:
    files = [photo(shared_data, "obama", "obama.jpg"), photo(shared_data, "obama", "obama2.jpg")]
    with hub_server.client(hub_server.enroll) as client:
        response = client.post("/api/samples/photos", data={"label": "Barack Obama"}, files=files)
        assert response.status_code == 201, response.text
        report = response.json()
        assert report["faces_extracted"] == 2 and report["images"] == 2
        assert report["person"]["samples"] == 2
        samples = client.get("/api/samples", params={"person_id": report["person"]["id"]}).json()
        assert len(samples) == 2
        thumbnail = client.get(samples[0]["image_url"])
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert thumbnail.content[:2] == b"\xff\xd8"
        # The same photo again is a duplicate of a stored sample: rejected, library unchanged.
        again = client.post("/api/samples/photos", data={"label": "Barack Obama"}, files=files[:1])
        assert again.status_code == 422
        assert again.json()["detail"]["rejected"]["duplicate"] == 1
        assert client.post("/api/samples/delete", json={"ids": [samples[0]["id"]]}).json() == {"deleted": 1}
        assert client.delete(f"/api/samples/{samples[0]['id']}").status_code == 404
        assert client.get(samples[0]["image_url"]).status_code == 404
        assert client.delete(f"/api/people/{report['person']['id']}").json()["deleted"] == 1
    assert library_state(hub_server.hub) == (0, 0, [])


def test_photo_without_face_is_counted(hub_server: HubServer, shared_data: Path, tmp_path: Path) -> None:
    import cv2
    import numpy as np

    blank = cv2.imencode(".jpg", np.full((200, 300, 3), 127, np.uint8))[1].tobytes()
    files = [photo(shared_data, "biden", "biden.jpg"), ("files", ("wall.jpg", blank, "image/jpeg"))]
    with hub_server.client(hub_server.enroll) as client:
        report = client.post("/api/samples/photos", data={"label": "Joe Biden"}, files=files).json()
    assert report["faces_extracted"] == 1
    assert report["rejected"]["no_face"] == 1


def test_openapi_docs_metrics_and_page(hub_server: HubServer) -> None:
    with hub_server.client() as client:
        schema = client.get("/openapi.json").json()
        assert {"/api/people", "/api/samples/photos", "/api/rollouts", "/api/search"} <= set(schema["paths"])
        assert client.get("/docs").status_code == 200
        assert "facefleet_hub_devices" in client.get("/metrics").text
        assert "<title>FaceFleet hub</title>" in client.get("/").text
