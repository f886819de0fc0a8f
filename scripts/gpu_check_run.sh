#!/usr/bin/env bash
# Run every GPU check in one go on a machine with an NVIDIA GPU: an environment report, scripts/gpu_check.py
# (table + JSON) and the gpu-marked tests. Python packages the machine lacks can come as wheels in a folder.
#
#   scripts/pack_gpu_check.py                          # first, where the LFW data is: -> .gpucheck/
#   scripts/gpu_check_run.sh OUT_DIR [WHEEL_DIR]       # then on the GPU machine
# GPU_CHECK_ARGS passes options to gpu_check.py (e.g. "--folds 1" for a quick run).
set -uo pipefail

out=${1:?usage: gpu_check_run.sh OUT_DIR [WHEEL_DIR]}
wheels=${2:-}
py=${PYTHON:-python3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

if [[ -n $wheels ]]; then
  site=$(mktemp -d)
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl || exit 1
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv
  "$py" --version
  "$py" -m pip list 2>/dev/null | grep -iE '^(tensorrt|onnxruntime|cuda|pycuda|numpy|opencv|onnx |pydantic )'
  echo "libnvinfer in the loader cache: $(ldconfig -p | grep -c libnvinfer)"
  "$py" -c 'import tensorrt; print("tensorrt", tensorrt.__version__)' 2>&1 | tail -n1
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

work=$(mktemp -d)
read -ra extra <<<"${GPU_CHECK_ARGS:-}"
"$py" scripts/gpu_check.py --pack .gpucheck --work "$work" --out "$out/gpu_check.json" "${extra[@]}" 2>&1 |
  tee "$out/gpu_check.log"
check=${PIPESTATUS[0]}
FACEFLEET_MODEL_DIR="$work/models" "$py" -m pytest -p no:cacheprovider tests/models/test_tensorrt_gpu.py -m gpu -q -rs \
  2>&1 | tee "$out/pytest_gpu.log"
echo "gpu_check exit $check"
