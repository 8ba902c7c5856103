#!/usr/bin/env bash
# `make bundle`: build dist/sketchlab/ (a PyInstaller one-folder bundle) on Linux.
#
# The bundle is built from its own venv, build/bundle-venv, not from .venv:
#   - .venv has PyPI's CUDA torch. Its libtorch.so links libtorch_cuda.so, which links
#     cuDNN/cuBLAS/NCCL from the nvidia-* wheels (3.2 GB): without them `import torch`
#     fails (libcudnn.so.9: cannot open shared object file), and with them the bundle
#     would be ~5 GB.
#   - build/bundle-venv has the CPU wheel torch==2.13.0+cpu (this image's pip find-links;
#     elsewhere set PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu) and no
#     torchvision/triton, which the app never imports. See packaging/README.md.
# The venv is (re)made only when pyproject.toml, the dlib shim or this script change.
#
# Environment: SKETCHLAB_BUNDLE_TORCH (default torch==2.13.0+cpu), SKETCHLAB_BUNDLE_VENV
# (default build/bundle-venv), SKETCHLAB_BUNDLE_DIST (default dist), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
TORCH_SPEC=${SKETCHLAB_BUNDLE_TORCH:-torch==2.13.0+cpu}
VENV=${SKETCHLAB_BUNDLE_VENV:-build/bundle-venv}
DIST=${SKETCHLAB_BUNDLE_DIST:-dist}
STAMP=$VENV/.sketchlab-bundle-stamp
want=$(cat pyproject.toml packaging/dlib-shim/pyproject.toml packaging/bundle_requirements.py \
       "$0" | sha256sum | cut -c1-16)-$TORCH_SPEC

# pip warns once per package about this image's missing local index folders: noise.
pip_quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "bundle: creating $VENV ($TORCH_SPEC; first time ~1-3 min)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip=(pip_quiet "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" ./packaging/dlib-shim        # before face_recognition: never compile dlib
  "${pip[@]}" "$TORCH_SPEC"
  "$VENV/bin/python" packaging/bundle_requirements.py > "$VENV/bundle-requirements.txt"
  "${pip[@]}" -r "$VENV/bundle-requirements.txt"
  "$VENV/bin/python" -m pip check
  echo "$want" > "$STAMP"
fi

"$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath "$DIST" --workpath "build/pyinstaller-$(basename "$VENV")" packaging/sketchlab.spec
du -sh "$DIST/sketchlab"
