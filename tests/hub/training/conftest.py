"""Fixtures of the training tests: the converted embedder and a little of the real library (LFW crops)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.registry import default_model_dir


@pytest.fixture(scope="session")
def sface_path() -> Path:
    return default_model_dir() / "sface.onnx"


@pytest.fixture(scope="session")
def lfw_dir(shared_data: Path) -> Path:
    return shared_data / "lfw"


@pytest.fixture(scope="session")
def enrolled(pipeline, lfw_dir: Path):  # type: ignore[no-untyped-def]
    """20 real people of LFW fold 9 with 6 aligned crops each (fold 0 stays for the LFW check)."""
    from hub.training.lfw_people import lfw_people_samples

    people = lfw_people_samples(pipeline, lfw_dir, folds=[9], people=20, min_images=6, max_images=6)
    assert len(people) == 20
    return people


@pytest.fixture(scope="session")
def some_crops(enrolled) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.concatenate([p.crops_rgb[:2] for p in enrolled[:3]])
