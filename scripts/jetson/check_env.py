"""Check a Jetson's Python environment after provisioning: TensorRT, a CUDA binding, onnxruntime's GPU
providers, OpenCV with GStreamer. Prints one line per item; exits 1 when something the agent needs is
missing, so provisioning stops there instead of at the agent's first start."""

from __future__ import annotations

import importlib
import re
import sys


def check() -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []
    try:
        results.append(("tensorrt", True, importlib.import_module("tensorrt").__version__))
    except ImportError as exc:
        results.append(("tensorrt", False, f"{exc} (venv made without --system-site-packages?)"))
    for module in ("cuda.bindings.runtime", "cuda.cudart", "pycuda.driver"):
        try:
            importlib.import_module(module)
            results.append(("cuda binding", True, module))
            break
        except ImportError:
            continue
    else:
        results.append(("cuda binding", False, "neither cuda-python nor pycuda imports"))
    try:
        ort = importlib.import_module("onnxruntime")
        providers = ort.get_available_providers()
        gpu = any(p in providers for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider"))
        results.append(("onnxruntime", gpu, f"{ort.__version__} {providers}"))
    except ImportError as exc:
        results.append(("onnxruntime", False, str(exc)))
    try:
        cv2 = importlib.import_module("cv2")
        match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
        gstreamer = bool(match and match.group(1) == "YES")
        results.append(("opencv gstreamer", gstreamer, f"{cv2.__version__} from {cv2.__file__}"))
    except ImportError as exc:
        results.append(("opencv gstreamer", False, str(exc)))
    return results


def main() -> int:
    results = check()
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
