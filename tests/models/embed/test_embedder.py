"""Embeddings on real photos: same person close, different people far; INT8 agrees with FP32."""

import numpy as np
import pytest

from models.engines.ort_providers import OnnxRuntimeConfig
from models.eval.lfw import crops_for_images, read_pairs
from models.imageio import load_image
from models.pipeline import FacePipeline, PipelineConfig


def _main_face_embedding(pipeline, path) -> np.ndarray:
    analysis = pipeline.analyze(load_image(path))
    assert len(analysis.faces) >= 1, path
    return analysis.embeddings[int(np.argmax(analysis.faces.size_px))]


@pytest.fixture(scope="module")
def people_embeddings(pipeline, shared_data) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for person in sorted((shared_data / "clips" / "people").iterdir()):
        out[person.name] = [_main_face_embedding(pipeline, p) for p in sorted(person.iterdir())]
    return out


def test_embeddings_are_unit_vectors(people_embeddings) -> None:
    for vectors in people_embeddings.values():
        for v in vectors:
            assert v.shape == (128,) and abs(np.linalg.norm(v) - 1) < 1e-4


def test_same_person_is_closer_than_any_other_person(people_embeddings) -> None:
    for person, vectors in people_embeddings.items():
        if len(vectors) < 2:
            continue
        same = float(vectors[0] @ vectors[1])
        others = [float(vectors[0] @ w) for other, ws in people_embeddings.items() if other != person for w in ws]
        assert same > 0.45, person
        assert same > max(others) + 0.2, person


@pytest.fixture(scope="module")
def lfw_subset(pipeline, shared_data):
    """60 genuine and 60 impostor pairs of fold 1: (a, b) crop indices, same flags, crops, found flags."""
    pairs = read_pairs(shared_data / "lfw", folds=1)
    chosen = np.r_[np.flatnonzero(pairs.same)[:60], np.flatnonzero(~pairs.same)[:60]]
    images = sorted(set(pairs.index_a[chosen]) | set(pairs.index_b[chosen]))
    position = {image: i for i, image in enumerate(images)}
    crops, found = crops_for_images(pipeline.detector, [pairs.images[i] for i in images])
    a = np.array([position[i] for i in pairs.index_a[chosen]])
    b = np.array([position[i] for i in pairs.index_b[chosen]])
    return a, b, pairs.same[chosen], crops, found


def test_lfw_pairs_subset_is_verified(pipeline, lfw_subset) -> None:
    a, b, same, crops, found = lfw_subset
    assert found.all()
    vectors = pipeline.embedder.embed(crops)
    scores = np.einsum("ij,ij->i", vectors[a], vectors[b])
    accuracy = ((scores > 0.3) == same).mean()
    assert accuracy > 0.95
    assert scores[same].mean() > scores[~same].mean() + 0.4


def test_int8_agrees_with_fp32(pipeline, lfw_subset, shared_data) -> None:
    int8 = FacePipeline.from_config(PipelineConfig(backend=OnnxRuntimeConfig(precision="int8")))
    crops = lfw_subset[3][:64]
    fp32_vectors = pipeline.embedder.embed(crops)
    int8_vectors = int8.embedder.embed(crops)
    cosine = np.einsum("ij,ij->i", fp32_vectors, int8_vectors)
    assert cosine.mean() > 0.97 and cosine.min() > 0.9
    faces = int8.detect(load_image(shared_data / "clips" / "two_people.jpg"))
    assert len(faces) == 2


def test_batches_give_the_same_embeddings_as_single_crops(pipeline, lfw_subset) -> None:
    crops = lfw_subset[3][:5]
    batched = pipeline.embedder.embed(crops)
    single = np.concatenate([pipeline.embedder.embed(c[None]) for c in crops])
    np.testing.assert_allclose(batched, single, atol=1e-4)


def test_wrong_crop_shape_is_a_clear_error(pipeline) -> None:
    with pytest.raises(ValueError, match="expects"):
        pipeline.embedder.embed(np.zeros((2, 100, 100, 3), np.uint8))
    assert pipeline.embedder.embed(np.zeros((0, 112, 112, 3), np.uint8)).shape == (0, 128)
