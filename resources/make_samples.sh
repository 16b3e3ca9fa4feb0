#!/usr/bin/env bash
# Regenerates sample_meeting.wav (16 kHz mono PCM16) from sample_meeting.txt with espeak-ng.
# Needs: espeak-ng (apt-get install -y espeak-ng) and a Python with soundfile + soxr (the project's venv).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp --suffix=.wav)"
trap 'rm -f "$tmp"' EXIT
espeak-ng -v en-us -s 150 -w "$tmp" -f "$here/sample_meeting.txt"
"${PYTHON:-python3}" - "$tmp" "$here/sample_meeting.wav" <<'PY'
import sys
import soundfile as sf
import soxr
x, rate = sf.read(sys.argv[1], dtype="float32")
sf.write(sys.argv[2], soxr.resample(x, rate, 16000, quality="HQ"), 16000, subtype="PCM_16")
PY
