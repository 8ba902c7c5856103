#!/usr/bin/env bash
# `make bundle`: build dist/sketchlab/ (a PyInstaller one-folder bundle) on Linux.
#
# The bundle is built from its own venv, build/bundle-venv, not from .venv:
#   - .venv has PyPI's CUDA torch. Its libtorch.so links libtorch_cuda.so, which links
#     cuDNN/cuBLAS/NCCL from the nvidia-* wheels (3.2 GB), so torch cannot be imported
#     without them and a bundle made from .venv would weigh ~5 GB.
#   - build/bundle-venv has the CPU wheel torch==2.13.0+cpu (pip's find-links) and no
#     torchvision/triton, which the app never imports. See packaging/README.md.
# The venv is (re)made only when pyproject.toml, the dlib shim or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=build/bundle-venv
TORCH_SPEC=${SKETCHLAB_BUNDLE_TORCH:-torch==2.13.0+cpu}
STAMP=$VENV/.sketchlab-bundle-stamp
want=$(cat pyproject.toml packaging/dlib-shim/pyproject.toml "$0" | sha256sum | cut -c1-16)-$TORCH_SPEC

# pip warns once per package about this image's missing local index folders: noise.
pip_quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "bundle: creating $VENV ($TORCH_SPEC, first time ~2 min)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  pip=(pip_quiet "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
  "${pip[@]}" ./packaging/dlib-shim
  "${pip[@]}" "$TORCH_SPEC"
  # The app's runtime dependencies minus torch/torchvision, plus the `bundle` extra.
  mapfile -t reqs < <("$VENV/bin/python" - <<'PY'
import re, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))["project"]
for r in p["dependencies"] + p["optional-dependencies"]["bundle"]:
    if re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0].lower() not in ("torch", "torchvision"):
        print(r)
PY
  )
  "${pip[@]}" "${reqs[@]}"
  "$VENV/bin/python" -m pip check
  echo "$want" > "$STAMP"
fi

"$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/sketchlab.spec
du -sh dist/sketchlab
