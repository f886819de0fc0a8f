"""The MTCNN detector on real photos: face counts, landmarks, odd inputs, and agreement with facenet-pytorch."""

import cv2
import numpy as np
import pytest

from models.detect.boxes import iou_matrix
from models.detect.pyramid import pyramid_scales
from models.eval.lfw import read_pairs
from models.imageio import load_image


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(load_image(path), cv2.COLOR_BGR2RGB)


def test_two_people(pipeline, shared_data) -> None:
    faces = pipeline.detect(load_image(shared_data / "clips" / "two_people.jpg"))
    assert len(faces) == 2
    assert (faces.scores > 0.95).all()
    # landmarks lie inside their boxes, eyes above the mouth
    for box, points in zip(faces.xyxy, faces.landmarks, strict=True):
        assert (points[:, 0] > box[0]).all() and (points[:, 0] < box[2]).all()
        assert points[:2, 1].mean() < points[3:, 1].mean()


@pytest.mark.parametrize("name", ["obama-720p.jpg", "obama-1080p.jpg", "32bit.png", "obama_partial_face.jpg"])
def test_single_portraits_have_one_large_face(pipeline, shared_data, name: str) -> None:
    image = load_image(shared_data / "clips" / name)
    faces = pipeline.detect(image)
    assert len(faces) >= 1
    assert faces.size_px.max() > min(image.shape[:2]) * 0.1


def test_lfw_images_have_a_centred_face(pipeline, shared_data) -> None:
    pairs = read_pairs(shared_data / "lfw", folds=1)
    paths = pairs.images[:40]
    for path in paths:
        image = load_image(path)
        faces = pipeline.detect(image)
        assert len(faces) >= 1, path.name
        best = faces.select([faces.nearest_centre((250, 250))])
        centre = (best.xyxy[0, :2] + best.xyxy[0, 2:]) / 2
        assert np.abs(centre - 125).max() < 30, path.name


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((0, 0, 3), np.uint8),  # empty
        np.zeros((8, 8, 3), np.uint8),  # smaller than the 12 px window
        np.zeros((360, 640, 3), np.uint8),  # black frame
        np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8),  # noise
    ],
)
def test_frames_without_faces_give_empty_results(pipeline, image: np.ndarray) -> None:
    assert len(pipeline.detector.detect(image)) == 0


def test_wrong_array_shape_is_a_clear_error(pipeline) -> None:
    with pytest.raises(ValueError, match="uint8 RGB"):
        pipeline.detector.detect(np.zeros((100, 100), np.uint8))


def test_pyramid_scales() -> None:
    scales = pyramid_scales((640, 360), 20, 0.709)
    assert scales[0] == pytest.approx(0.6)
    assert min((640, 360)) * scales[-1] >= 12 > min((640, 360)) * scales[-1] * 0.709
    assert pyramid_scales((10, 10), 20, 0.709) == []


def test_same_faces_as_facenet_pytorch(pipeline, shared_data) -> None:
    pytest.importorskip("torch", reason="the facenet-pytorch reference needs torch (the convert extra)")
    from models.eval.facenet_reference import facenet_mtcnn

    reference = facenet_mtcnn()
    for name in ["two_people.jpg", "obama-720p.jpg"]:
        rgb = _rgb(shared_data / "clips" / name)
        ours = pipeline.detector.detect(rgb).xyxy
        theirs = np.asarray(reference.detect(rgb)[0], np.float32).reshape(-1, 4)
        assert len(ours) == len(theirs), name
        assert (iou_matrix(ours, theirs).max(axis=1) > 0.8).all(), name


@pytest.mark.parametrize("min_face_px", [40, 60])
def test_min_face_px_holds_in_full_and_region_searches(pipeline, shared_data, min_face_px: int) -> None:
    """A frame of the 1080p crowd (faces of 40-150 px): the smallest face reported, by the whole pyramid and
    by the search around the faces it found, is at least `min_face_px` (box regression used to shrink
    candidates below it: 17 px faces at 40)."""
    from models.detect.mtcnn import DetectorConfig, MtcnnDetector

    capture = cv2.VideoCapture(str(shared_data / "clips" / "crowd_1080p.mp4"))
    ok, frame = capture.read()
    capture.release()
    assert ok
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    base = pipeline.detector
    detector = MtcnnDetector(base.pnet, base.rnet, base.onet, DetectorConfig(min_face_px=min_face_px), base.cpu)
    full = detector.detect(rgb)
    regions = detector.detect_in_regions(rgb, full.xyxy)
    assert len(full) >= 3 and len(regions) >= 3
    assert full.size_px.min() >= min_face_px and regions.size_px.min() >= min_face_px
