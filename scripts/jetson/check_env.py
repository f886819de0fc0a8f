"""Check a Jetson's Python environment after provisioning: TensorRT and its API shape, a CUDA binding and the
GPU's INT8 support, onnxruntime's GPU providers, OpenCV with GStreamer. Prints one line per item; exits 1 when
something the agent needs is missing, so provisioning stops there instead of at the agent's first start.

`--precision` prints only the engine precision this GPU should use: int8, or fp16 where the GPU has no fast
INT8 (the original Nano, sm53; the TX2, sm62). provision.sh reads it for its default `--precision auto`.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

Result = tuple[str, bool, str]


def check_tensorrt() -> Result:
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        return "tensorrt", False, f"{exc} (venv made without --system-site-packages?)"
    from models.engines.tensorrt.trt_api import tensorrt_api

    api = tensorrt_api(trt)
    shape = ", ".join(
        name
        for name, present in (
            ("strongly typed", api.strongly_typed),
            ("weak typing", api.weak_typing),
            ("INT8 calibrator", api.calibrator),
        )
        if present
    )
    return "tensorrt", True, f"{trt.__version__} ({shape})"


def gpu_capability() -> tuple[str, tuple[int, int]] | None:
    """(GPU name, compute capability) through the agent's own CUDA layer, or None without a usable GPU."""
    from models.engines.cuda_memory import open_cuda_memory

    try:
        return open_cuda_memory().device_info()
    except Exception:  # noqa: BLE001 - any failure means no usable GPU through CUDA here
        return None


def recommended_precision(capability: tuple[int, int]) -> str:
    from models.engines.tensorrt.trt_api import precision_for_device

    return precision_for_device("int8", capability)


def check_gpu() -> list[Result]:
    found = gpu_capability()
    if found is None:
        return [("cuda binding", False, "neither cuda-python nor pycuda reaches a GPU")]
    name, cc = found
    precision = recommended_precision(cc)
    note = "INT8 engines" if precision == "int8" else "no fast INT8 on this GPU: FP16 engines"
    return [("cuda binding", True, f"{name}, compute capability {cc[0]}.{cc[1]}"), ("precision", True, note)]


def check_onnxruntime() -> Result:
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as exc:
        return "onnxruntime", False, str(exc)
    providers = ort.get_available_providers()
    gpu = any(p in providers for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider"))
    return "onnxruntime", gpu, f"{ort.__version__} {providers}"


def check_opencv() -> Result:
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError as exc:
        return "opencv gstreamer", False, str(exc)
    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    return "opencv gstreamer", bool(match and match.group(1) == "YES"), f"{cv2.__version__} from {cv2.__file__}"


def check() -> list[Result]:
    return [check_tensorrt(), *check_gpu(), check_onnxruntime(), check_opencv()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", action="store_true", help="print int8 or fp16 for this GPU and exit")
    args = parser.parse_args(argv)
    if args.precision:
        found = gpu_capability()
        if found is None:
            print("no usable GPU: cannot choose an engine precision", file=sys.stderr)
            return 1
        print(recommended_precision(found[1]))
        return 0
    results = check()
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
