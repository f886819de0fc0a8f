"""Person names: normalised to NFC, invisible and control characters and mixed-script words refused (422),
look-alikes of an existing name refused (409 naming that person), table-driven and over HTTP."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.library.names import NameRefused, clean_name, skeleton
from tests.hub.conftest import HubServer, library_state

ACCEPTED = [
    ("Barack  Obama ", "Barack Obama"),  # runs of spaces collapse, ends trimmed
    ("Jose\u0301 A\u0301lvarez", "José Álvarez"),  # combining accents composed (NFC)
    ("Jean\u00a0Paul", "Jean Paul"),  # a no-break space is a space
    ("Ольга Петрова", "Ольга Петрова"),  # one script a word: Cyrillic is fine
    ("山田たろう", "山田たろう"),  # Han with Hiragana: a Japanese name (TR39 highly restrictive)
    ("김철수", "김철수"),  # Hangul
    ("Δημήτρης", "Δημήτρης"),  # Greek
]
REFUSED = [
    ("ob\x00ama", "U+0000"),  # NUL
    ("ob\u200bama", "ZERO WIDTH SPACE"),  # Cf, invisible
    ("obama\u202e", "RIGHT-TO-LEFT OVERRIDE"),  # bidi override
    ("ob\u3164ama", "HANGUL FILLER"),  # a blank "letter"
    ("\u2800", "BRAILLE PATTERN BLANK"),  # looks like nothing
    ("o\tbama", "U+0009"),  # control character
    ("\u0301\u0301", "no letter or digit"),  # combining marks only
    ("\u043ebama", "mixes scripts"),  # Cyrillic о inside a Latin word
    ("   ", "blank"),
]


@pytest.mark.parametrize(("raw", "stored"), ACCEPTED)
def test_accepted_names_are_normalised(raw: str, stored: str) -> None:
    assert clean_name(raw) == stored


@pytest.mark.parametrize(("raw", "reason"), REFUSED)
def test_refused_names_say_why(raw: str, reason: str) -> None:
    with pytest.raises(NameRefused, match=re.escape(reason)):
        clean_name(raw)


@pytest.mark.parametrize(
    "look_alike",
    [
        "OBAMA",  # case
        "\u041e\u0412\u0410\u041c\u0410",  # ОВАМА: all Cyrillic capitals
        "\u039f\u0392\u0391\u039c\u0391",  # ΟΒΑΜΑ: all Greek capitals
        "\uff2f\uff42\uff41\uff4d\uff41",  # Ｏｂａｍａ: fullwidth
        "0bama",  # digit zero for O
    ],
)
def test_look_alikes_share_a_skeleton(look_alike: str) -> None:
    assert skeleton(clean_name(look_alike)) == skeleton("Obama")


def test_different_names_have_different_skeletons() -> None:
    assert skeleton("Obama") != skeleton("Osama") and skeleton("Ольга") != skeleton("Olga")


def test_names_over_http(hub_server: HubServer, shared_data: Path) -> None:
    photo = ("files", ("obama.jpg", (shared_data / "clips/people/obama/obama.jpg").read_bytes(), "image/jpeg"))
    with hub_server.client(hub_server.enroll) as client:
        obama = client.post("/api/people", json={"name": "Obama"}).json()
        before = library_state(hub_server.hub)
        for name in ("ob\u200bama", "ob\x00ama", "\u043ebama"):  # invisible, NUL, mixed script: 422
            assert client.post("/api/people", json={"name": name}).status_code == 422, name
            upload = client.post("/api/samples/photos", data={"label": name}, files=[photo])
            assert upload.status_code == 422 and "label" in upload.text, name
        cyrillic = "\u041e\u0412\u0410\u041c\u0410"  # ОВАМА
        for attempt in (
            client.post("/api/people", json={"name": cyrillic}),
            client.post("/api/samples/photos", data={"label": cyrillic}, files=[photo]),
        ):
            assert attempt.status_code == 409 and "'Obama'" in attempt.json()["detail"], attempt.text
        other = client.post("/api/people", json={"name": "Biden"}).json()
        renamed = client.patch(f"/api/people/{other['id']}", json={"name": "OBAMA"})
        assert renamed.status_code == 409 and "'Obama'" in renamed.json()["detail"]
        assert client.patch(f"/api/people/{obama['id']}", json={"name": "obama"}).status_code == 200  # itself
        stored = client.post("/api/people", json={"name": "Jose\u0301"}).json()["name"]
    assert stored == "José" and library_state(hub_server.hub)[1:] == before[1:]
