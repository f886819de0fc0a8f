"""Which samples `optimize` drops: near-duplicates first, then the weaker of the closest pair."""

from __future__ import annotations

import numpy as np
import pytest

from hub.library.optimize import samples_to_drop


def unit(vectors: list[list[float]]) -> np.ndarray:
    array = np.array(vectors, np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


CASES = [
    # under the limit: nothing goes
    (unit([[1, 0], [0, 1]]), [0.9, 0.9], 5, []),
    # keep zero: everything goes
    (unit([[1, 0], [0, 1]]), [0.9, 0.9], 0, [0, 1]),
    # two near-duplicates and one distinct: the weaker duplicate goes, not the distinct low-quality one
    (unit([[1, 0], [1, 0.01], [0, 1]]), [0.9, 0.5, 0.1], 2, [1]),
    # three copies, keep one: the best copy stays
    (unit([[1, 0], [1, 0.01], [1, 0.02]]), [0.2, 0.9, 0.5], 1, [0, 2]),
]


@pytest.mark.parametrize(("embeddings", "quality", "keep", "expected"), CASES)
def test_samples_to_drop(embeddings: np.ndarray, quality: list[float], keep: int, expected: list[int]) -> None:
    assert samples_to_drop(embeddings, np.array(quality, np.float32), keep) == expected


def test_optimize_over_http(hub_server, shared_data) -> None:  # type: ignore[no-untyped-def]
    files = [
        ("files", (n, (shared_data / "clips/people/rose_leslie" / n).read_bytes(), "image/jpeg"))
        for n in ("img1.jpg", "img2.jpg")
    ]
    with hub_server.client(hub_server.enroll) as client:
        person = client.post("/api/samples/photos", data={"label": "Rose"}, files=files).json()["person"]
        assert person["samples"] == 2
        result = client.post("/api/samples/optimize", json={"max_per_person": 1})
        assert result.json() == {"deleted": 1}
        assert client.get(f"/api/people/{person['id']}").json()["samples"] == 1
