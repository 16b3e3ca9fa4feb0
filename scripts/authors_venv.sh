#!/usr/bin/env bash
# Builds a separate venv with the LTU-AS authors' own inference stack, as a benchmark reference only:
# `ltu-desktop bench --authors DEST/bin/python` times their pipeline beside ours on the same weight files.
# The app never uses this venv or imports anything from it.
#
#   bash scripts/authors_venv.sh DEST [LTU_CHECKOUT]
#
# LTU_CHECKOUT is a clone of https://github.com/YuanGongND/ltu (`git clone https://github.com/YuanGongND/ltu`)
# or a bare git mirror of it, from which src/ltu_as is extracted into DEST/ltu. Installed from it, unchanged:
# their transformers 4.28-dev fork (src/ltu_as/hf-dev/transformers-main), their peft 0.3-dev fork (peft-main)
# and their openai-whisper fork (whisper, whose encoder returns every block's input). Their code stays theirs:
# DEST/ltu/src/ltu_as is put on the venv's path for `utils.prompter` and `templates/`.
#
# Pins: torch 2.13.0 CPU (the project's; their 1.13.1 has no Python 3.11 wheels with this index), numpy < 2
# (their fork predates NumPy 2), tokenizers 0.13.3 (their fork wants < 0.14; it has cp311 wheels),
# huggingface-hub 0.17.3 and accelerate 0.23.0 (their requirements.txt; newer ones drop APIs 4.28 calls),
# sentencepiece 0.1.99, scikit-image 0.22.0 (their feature pooling), setuptools < 81 (their whisper fork's
# setup.py imports pkg_resources, which setuptools 81 removed). openai-whisper's own deps are installed
# by hand (no triton: CPU only).
set -euo pipefail
DEST=${1:?usage: authors_venv.sh DEST [LTU_CHECKOUT]}
SRC=${2:-}
PY=${PYTHON:-python3}
DEST=$(mkdir -p "$DEST" && cd "$DEST" && pwd)

if [ -z "$SRC" ]; then
  if [ ! -d "$DEST/ltu/src/ltu_as" ]; then
    echo "No checkout of the authors' repository given. Get one with:" >&2
    echo "  git clone https://github.com/YuanGongND/ltu /path/to/ltu && bash $0 $DEST /path/to/ltu" >&2
    exit 2
  fi
elif [ -d "$SRC/src/ltu_as" ]; then
  rm -rf "$DEST/ltu" && mkdir -p "$DEST/ltu/src" && cp -r "$SRC/src/ltu_as" "$DEST/ltu/src/"
elif git -C "$SRC" rev-parse --is-bare-repository >/dev/null 2>&1; then
  rm -rf "$DEST/ltu" && mkdir -p "$DEST/ltu"
  # Only what is installed or imported; a mirror may lack large blobs elsewhere (the fork's notebooks).
  git -C "$SRC" archive HEAD src/ltu_as/hf-dev/transformers-main src/ltu_as/peft-main src/ltu_as/whisper \
    src/ltu_as/utils src/ltu_as/templates ':(exclude)src/ltu_as/whisper/notebooks' | tar -x -C "$DEST/ltu"
else
  echo "$SRC is neither a checkout of YuanGongND/ltu (no src/ltu_as) nor a git repository." >&2
  exit 2
fi
LTU=$DEST/ltu/src/ltu_as
for d in hf-dev/transformers-main peft-main whisper utils templates; do
  [ -e "$LTU/$d" ] || { echo "$LTU/$d is missing: not the authors' LTU-AS source?" >&2; exit 2; }
done

[ -x "$DEST/bin/python" ] || "$PY" -m venv "$DEST"
PIP=("$DEST/bin/python" -m pip install -q --disable-pip-version-check)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" torch==2.13.0 "numpy>=1.24,<2" tokenizers==0.13.3 huggingface-hub==0.17.3 accelerate==0.23.0 \
  sentencepiece==0.1.99 scikit-image==0.22.0 safetensors filelock packaging pyyaml "regex!=2019.12.17" requests \
  tqdm psutil more-itertools ffmpeg-python==0.2.0 "setuptools<81" wheel
"${PIP[@]}" --no-deps --no-build-isolation "$LTU/hf-dev/transformers-main" "$LTU/peft-main" "$LTU/whisper"
SITE=$("$DEST/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$LTU" > "$SITE/ltu_as_src.pth"
"$DEST/bin/python" - <<'EOF'
import peft, torch, transformers, whisper
from transformers.models.llama import modeling_llama
from utils.prompter import Prompter

assert hasattr(modeling_llama, "ATModel"), "transformers is not the authors' fork"
assert "all_nopool" in open(whisper.model.__file__).read(), "whisper is not the authors' fork"
print(f"authors' venv ready: torch {torch.__version__}, transformers {transformers.__version__}, "
      f"peft {peft.__version__}")
EOF
