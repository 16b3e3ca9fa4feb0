#!/usr/bin/env bash
# Writes a small transcript test set into FOLDER (default: asr-set): one 16 kHz mono WAV per Harvard
# sentence in asr_set.txt, spoken by espeak-ng in four voices at three speeds, with the sentence
# beside it as FOLDER/NN.txt. `ltu-desktop bench --profile demo --asr-set FOLDER` scores each
# transcript backend on it. Needs espeak-ng and the project's venv (soundfile + soxr).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-asr-set}"
mkdir -p "$out"
voices=(en-us en-gb en-us+f3 en-gb-x-rp)
speeds=(140 165 190)
i=0
while IFS= read -r line; do
  [ -n "$line" ] || continue
  name=$(printf "%02d" "$i")
  espeak-ng -v "${voices[$((i % 4))]}" -s "${speeds[$((i % 3))]}" -w "$out/$name.raw.wav" "$line"
  printf '%s\n' "$line" > "$out/$name.txt"
  i=$((i + 1))
done < "$here/asr_set.txt"
"${PYTHON:-python3}" - "$out" <<'PY'
import pathlib, sys
import soundfile as sf
import soxr
for raw in sorted(pathlib.Path(sys.argv[1]).glob("*.raw.wav")):
    x, rate = sf.read(raw, dtype="float32")
    sf.write(raw.with_name(raw.name.replace(".raw", "")), soxr.resample(x, rate, 16000, quality="HQ"), 16000,
             subtype="PCM_16")
    raw.unlink()
PY
echo "$i clips in $out"
