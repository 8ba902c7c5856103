#!/usr/bin/env bash
# Install the built bundle for one user (no root): the app folder, a `sketchlab` command,
# the menu entry and the icons, following the XDG base-directory and icon-theme specs.
#   packaging/install_linux.sh [BUNDLE_DIR]      (default: dist/sketchlab)
#   packaging/install_linux.sh --uninstall
# For all users, run as root with PREFIX=/opt/sketchlab BIN_DIR=/usr/local/bin
# DATA_DIR=/usr/local/share.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
DATA_DIR=${DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}}
PREFIX=${PREFIX:-$HOME/.local/opt/sketchlab}
BIN_DIR=${BIN_DIR:-$HOME/.local/bin}
SIZES="16 24 32 48 64 128 256 512"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$PREFIX" "$BIN_DIR/sketchlab" "$DATA_DIR/applications/sketchlab.desktop"
  for n in $SIZES; do rm -f "$DATA_DIR/icons/hicolor/${n}x${n}/apps/sketchlab.png"; done
  echo "SketchLab removed (your galleries, cases and settings are kept)"
  exit 0
fi

bundle=$(cd "${1:-$here/../dist/sketchlab}" && pwd)
[ -x "$bundle/sketchlab" ] || { echo "no bundle at $bundle: run 'make bundle' first" >&2; exit 1; }
mkdir -p "$PREFIX" "$BIN_DIR" "$DATA_DIR/applications"
cp -a "$bundle/." "$PREFIX/"
ln -sfn "$PREFIX/sketchlab" "$BIN_DIR/sketchlab"
for n in $SIZES; do
  install -Dm644 "$here/../resources/icons/sketchlab-$n.png" "$DATA_DIR/icons/hicolor/${n}x${n}/apps/sketchlab.png"
done
# Absolute Exec/TryExec: menus do not always search ~/.local/bin.
sed -e "s|^Exec=sketchlab|Exec=$PREFIX/sketchlab|" -e "s|^TryExec=sketchlab|TryExec=$PREFIX/sketchlab|" \
  "$here/sketchlab.desktop" > "$DATA_DIR/applications/sketchlab.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA_DIR/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -qtf "$DATA_DIR/icons/hicolor" 2>/dev/null || true
echo "SketchLab installed in $PREFIX; run 'sketchlab' or pick it from the applications menu"
