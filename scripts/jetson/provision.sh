#!/usr/bin/env bash
# Provision a Jetson (JetPack 6; JetPack 5 supported) as a FaceFleet edge node.
#
# Idempotent: every step checks before it changes anything, and files an operator may have edited
# (edge.env, MQTT client options) are only written when missing. --dry-run prints every command and file
# instead of running it, and works on any Linux machine (give --jetpack when not on a Jetson).
#
#   sudo scripts/jetson/provision.sh --hub-url https://hub.example:8443 --mqtt-host hub.example
#   scripts/jetson/provision.sh --dry-run --jetpack 6 --hub-url https://hub.example:8443
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: provision.sh [options]
  --dry-run              print what would be done, change nothing
  --jetpack 5|6          JetPack major version (default: from /etc/nv_tegra_release)
  --hub-url URL          the FaceFleet hub (models are fetched from it)
  --models-url URL       where manifest.json and the model files are (default: <hub-url>/api/v1/models/edge)
  --mqtt-host HOST       MQTT broker (default: the hub's host)   --mqtt-port PORT (default 8883, TLS)
  --precision P          engine precision: auto (default: int8, or fp16 where the GPU has no fast INT8), int8,
                         fp16, fp32
  --power-mode ID|maxn|keep   nvpmodel mode (default keep: leave the board's mode alone)
  --jetson-clocks        lock clocks at the mode's maximum, now and at every boot
  --ort-index URL        pip index with onnxruntime-gpu for this JetPack
  --no-engines           skip the TensorRT engine build    --no-start  enable but do not start the agent
  --prefix DIR           install root (default /opt/facefleet)
USAGE
}

DRY_RUN=0
JETPACK=""
HUB_URL=""
MODELS_URL=""
MQTT_HOST=""
MQTT_PORT=8883
PRECISION=auto
POWER_MODE=keep
JETSON_CLOCKS=0
ORT_INDEX=""
BUILD_ENGINES=1
START=1
PREFIX=/opt/facefleet
SERVICE_USER=facefleet
ETC_DIR=/etc/facefleet
STATE_DIR=/var/lib/facefleet
CACHE_DIR=/var/cache/facefleet
UNIT_DIR=/etc/systemd/system
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() { printf 'provision: %s\n' "$*" >&2; exit 2; }
step() { printf '==> %s\n' "$*"; }

# run CMD...: execute, or in a dry run print it shell-quoted.
run() {
  if ((DRY_RUN)); then
    printf '+'
    printf ' %q' "$@"
    printf '\n'
  else
    "$@"
  fi
}

# write_file PATH MODE OWNER:GROUP < content: install atomically; in a dry run show the content.
write_file() {
  local path=$1 mode=$2 owner=$3 tmp
  if ((DRY_RUN)); then
    printf '+ write %s (mode %s, %s)\n' "$path" "$mode" "$owner"
    sed 's/^/|   /'
    return
  fi
  tmp=$(mktemp)
  cat >"$tmp"
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$path"
  rm -f "$tmp"
}

# write_once PATH ...: write_file unless the file exists (operator edits survive re-runs).
write_once() {
  if [[ -e $1 ]]; then
    step "keeping existing $1"
    cat >/dev/null
  else
    write_file "$@"
  fi
}

parse_args() {
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=1 ;;
      --jetpack) JETPACK=${2:?}; shift ;;
      --hub-url) HUB_URL=${2:?}; shift ;;
      --models-url) MODELS_URL=${2:?}; shift ;;
      --mqtt-host) MQTT_HOST=${2:?}; shift ;;
      --mqtt-port) MQTT_PORT=${2:?}; shift ;;
      --precision) PRECISION=${2:?}; shift ;;
      --power-mode) POWER_MODE=${2:?}; shift ;;
      --jetson-clocks) JETSON_CLOCKS=1 ;;
      --ort-index) ORT_INDEX=${2:?}; shift ;;
      --no-engines) BUILD_ENGINES=0 ;;
      --no-start) START=0 ;;
      --prefix) PREFIX=${2:?}; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
    shift
  done
  [[ $PRECISION =~ ^(auto|int8|fp16|fp32)$ ]] || die "--precision must be auto, int8, fp16 or fp32"
  [[ $POWER_MODE =~ ^([0-9]+|maxn|keep)$ ]] || die "--power-mode must be a mode id, maxn or keep"
  [[ $MQTT_PORT =~ ^[0-9]+$ ]] || die "--mqtt-port must be a number"
  [[ -z $HUB_URL || $HUB_URL =~ ^https?://[^[:space:]]+$ ]] || die "--hub-url must be an http(s) URL"
  if [[ -n $HUB_URL ]]; then
    MODELS_URL=${MODELS_URL:-${HUB_URL%/}/api/v1/models/edge}
    if [[ -z $MQTT_HOST ]]; then
      MQTT_HOST=${HUB_URL#*://}
      MQTT_HOST=${MQTT_HOST%%[:/]*}
    fi
  fi
}

# JetPack from the L4T release: R35 is JetPack 5.1, R36 is JetPack 6.x.
detect_jetpack() {
  if [[ -n $JETPACK ]]; then
    [[ $JETPACK =~ ^[56]$ ]] || die "--jetpack must be 5 or 6"
    return
  fi
  [[ -r /etc/nv_tegra_release ]] || die "not a Jetson (no /etc/nv_tegra_release): pass --jetpack 5|6"
  case $(sed -n 's/^# R\([0-9]*\) .*/\1/p' /etc/nv_tegra_release) in
    35) JETPACK=5 ;;
    36) JETPACK=6 ;;
    *) die "unsupported L4T release: $(head -n1 /etc/nv_tegra_release)" ;;
  esac
}

set_platform_defaults() {
  if [[ $JETPACK == 6 ]]; then
    # CUDA 12.2 (6.0) or 12.6 (6.1/6.2), TensorRT 8.6 or 10.3, Python 3.10.
    ORT_INDEX=${ORT_INDEX:-https://pypi.jetson-ai-lab.io/jp6/cu126}
    CUDA_PYTHON_SPEC="cuda-python>=12.2,<13"
  else
    # CUDA 11.4, TensorRT 8.5, Python 3.8: onnxruntime-gpu 1.14-1.16 builds pair with TensorRT 8.5.
    ORT_INDEX=${ORT_INDEX:-https://pypi.jetson-ai-lab.io/jp5/cu114}
    CUDA_PYTHON_SPEC="cuda-python>=11.4,<12"
  fi
}

install_packages() {
  step "system packages"
  local packages=(python3-venv python3-pip python3-dev build-essential rsync curl ca-certificates
    mosquitto-clients python3-libnvinfer gstreamer1.0-tools gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-libav)
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  else
    step "all system packages present"
  fi
}

create_user() {
  step "service user $SERVICE_USER (groups video, render)"
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
      --shell /usr/sbin/nologin "$SERVICE_USER"
  fi
  local group
  for group in video render; do
    # /dev/nvmap and the Tegra GPU nodes belong to video; render (DRM render nodes) where the image has it.
    if getent group "$group" >/dev/null && ! id -nG "$SERVICE_USER" 2>/dev/null | grep -qw "$group"; then
      run usermod -aG "$group" "$SERVICE_USER"
    fi
  done
}

create_directories() {
  step "directories"
  run install -d -m 0755 "$PREFIX"
  run install -d -m 0750 -o root -g "$SERVICE_USER" "$ETC_DIR"
  run install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR" "$STATE_DIR/models" \
    "$STATE_DIR/.config" "$CACHE_DIR" "$CACHE_DIR/engines"
}

install_python_env() {
  step "Python environment in $PREFIX/venv (TensorRT and OpenCV from JetPack via system site packages)"
  run rsync -a --delete --exclude .git --exclude .venv --exclude __pycache__ "$SRC_DIR/" "$PREFIX/src/"
  if [[ ! -x $PREFIX/venv/bin/python ]]; then
    run python3 -m venv --system-site-packages "$PREFIX/venv"
  fi
  local pip=("$PREFIX/venv/bin/python" -m pip)
  run "${pip[@]}" install --upgrade pip
  # --no-deps for our package: pip's opencv-python has no GStreamer and would shadow JetPack's OpenCV.
  run "${pip[@]}" install --no-deps "$PREFIX/src"
  # onnxconverter-common: the float16 ONNX copies FP16 engines are built from on TensorRT 10's strongly
  # typed networks (weak typing is deprecated there and gone in 11).
  run "${pip[@]}" install "numpy<2" "onnx>=1.14" "pydantic>=2.6" pyyaml tqdm "paho-mqtt>=2.0" \
    "sqlite-utils>=3.36" "prometheus-client>=0.20" "cryptography>=42" "onnxconverter-common>=1.14,<2" \
    "$CUDA_PYTHON_SPEC"
  run "${pip[@]}" install --extra-index-url "$ORT_INDEX" onnxruntime-gpu
  # PyCUDA compiles against JetPack's CUDA; only a fallback when cuda-python is unusable.
  run env CUDA_ROOT=/usr/local/cuda PATH=/usr/local/cuda/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    "${pip[@]}" install pycuda
  run "$PREFIX/venv/bin/python" "$PREFIX/src/scripts/jetson/check_env.py"
}

# --precision auto: INT8 engines, or FP16 on a GPU without fast INT8 (the original Nano, the TX2), as
# check_env.py reads it off the GPU's compute capability.
resolve_precision() {
  [[ $PRECISION == auto ]] || return 0
  if ((DRY_RUN)); then
    run "$PREFIX/venv/bin/python" "$PREFIX/src/scripts/jetson/check_env.py" --precision
    PRECISION=int8
    step "dry run: assuming INT8 (check_env.py --precision chooses fp16 on a GPU without fast INT8)"
  else
    PRECISION=$("$PREFIX/venv/bin/python" "$PREFIX/src/scripts/jetson/check_env.py" --precision) ||
      die "check_env.py found no GPU to choose an engine precision for"
    step "engine precision for this GPU: $PRECISION"
  fi
}

write_configs() {
  step "configuration in $ETC_DIR"
  write_once "$ETC_DIR/edge.env" 0640 "root:$SERVICE_USER" <<ENV
# Environment of facefleet-edge.service (secrets live here, not in edge.yaml).
FACEFLEET_HUB_URL=${HUB_URL}
FACEFLEET_MQTT_HOST=${MQTT_HOST}
FACEFLEET_MQTT_PORT=${MQTT_PORT}
FACEFLEET_MQTT_PASSWORD=
FACEFLEET_ENGINE_PRECISION=${PRECISION}
ENV
  # Options for mosquitto_sub/mosquitto_pub run as the service user (diagnostics on the device):
  # the clients read $XDG_CONFIG_HOME/mosquitto_{sub,pub}, one option per line.
  local client
  for client in mosquitto_sub mosquitto_pub; do
    write_once "$STATE_DIR/.config/$client" 0640 "$SERVICE_USER:$SERVICE_USER" <<MQTT
-h ${MQTT_HOST:-localhost}
-p ${MQTT_PORT}
--capath /etc/ssl/certs
-V mqttv5
MQTT
  done
  if [[ ! -e $ETC_DIR/edge.yaml ]]; then
    step "NOTE: write $ETC_DIR/edge.yaml (cameras, pipeline, backend) before starting the agent"
  fi
}

fetch_models() {
  if [[ -z $MODELS_URL ]]; then
    step "no --hub-url: skipping model fetch"
    return
  fi
  step "models from $MODELS_URL"
  local manifest="$STATE_DIR/models/manifest.json"
  run curl -fsSL --retry 3 -o "$manifest.new" "$MODELS_URL/manifest.json"
  if ((DRY_RUN)); then
    printf '+ for each file in manifest.json: curl, sha256sum -c, mv into %s\n' "$STATE_DIR/models"
    return
  fi
  local sha name
  while read -r sha name; do
    [[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "refusing model file name '$name'"
    if [[ -f $STATE_DIR/models/$name ]] && echo "$sha  $STATE_DIR/models/$name" | sha256sum -c --quiet; then
      continue
    fi
    curl -fsSL --retry 3 -o "$STATE_DIR/models/$name.part" "$MODELS_URL/$name"
    echo "$sha  $STATE_DIR/models/$name.part" | sha256sum -c --quiet || die "sha256 mismatch for $name"
    mv "$STATE_DIR/models/$name.part" "$STATE_DIR/models/$name"
  done < <(python3 -c 'import json,sys; [print(v["sha256"], k) for k, v in json.load(open(sys.argv[1])).items()]' \
    "$manifest.new")
  mv "$manifest.new" "$manifest"
  chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR/models"
}

build_engines() {
  if ((!BUILD_ENGINES)); then
    step "skipping the TensorRT engine build (--no-engines): the agent builds them on first start"
    return
  fi
  # With the agent's edge.yaml the engines are planned from its pipeline block (same cache keys as the agent).
  local source=(--precision "$PRECISION")
  [[ -e $ETC_DIR/edge.yaml ]] && source=(--config "$ETC_DIR/edge.yaml")
  step "TensorRT engines (${source[*]}), built on this device and cached in $CACHE_DIR/engines"
  run runuser -u "$SERVICE_USER" -- env FACEFLEET_MODEL_DIR="$STATE_DIR/models" \
    FACEFLEET_CACHE_DIR="$CACHE_DIR" "$PREFIX/venv/bin/facefleet" models engines "${source[@]}"
}

set_power() {
  step "power: nvpmodel mode '$POWER_MODE', jetson_clocks $( ((JETSON_CLOCKS)) && echo on || echo off)"
  if [[ $POWER_MODE == maxn ]]; then
    # Mode ids differ per module: look MAXN up in this board's nvpmodel.conf.
    local id
    id=$(sed -n 's/.*POWER_MODEL ID=\([0-9]*\) NAME=MAXN.*/\1/p' /etc/nvpmodel.conf 2>/dev/null | head -n1 || true)
    if [[ -z $id ]]; then
      ((DRY_RUN)) || die "no MAXN mode in /etc/nvpmodel.conf: pass a mode id"
      id="<MAXN id from /etc/nvpmodel.conf>"
    fi
    run nvpmodel -m "$id"
  elif [[ $POWER_MODE != keep ]]; then
    run nvpmodel -m "$POWER_MODE"
  fi
  if ((JETSON_CLOCKS)); then
    run install -m 0644 "$SRC_DIR/systemd/facefleet-jetson-clocks.service" "$UNIT_DIR/"
    run systemctl daemon-reload
    run systemctl enable --now facefleet-jetson-clocks.service
  fi
}

install_units() {
  step "systemd unit facefleet-edge.service"
  run install -m 0644 "$SRC_DIR/systemd/facefleet-edge.service" "$UNIT_DIR/facefleet-edge.service"
  run systemctl daemon-reload
  run systemctl enable facefleet-edge.service
  if ((START)) && { ((DRY_RUN)) || [[ -e $ETC_DIR/edge.yaml ]]; }; then
    run systemctl restart facefleet-edge.service
  fi
}

main() {
  parse_args "$@"
  if ((!DRY_RUN)); then
    ((EUID == 0)) || die "run as root (or with --dry-run)"
    [[ -e /etc/nv_tegra_release ]] || die "not a Jetson: only --dry-run runs elsewhere"
  fi
  detect_jetpack
  set_platform_defaults
  step "FaceFleet edge provisioning: JetPack $JETPACK, prefix $PREFIX$( ((DRY_RUN)) && echo ' (dry run)')"
  install_packages
  create_user
  create_directories
  install_python_env
  resolve_precision
  write_configs
  fetch_models
  build_engines
  set_power
  install_units
  step "done"
}

main "$@"
