#!/bin/sh
# Install this auditlens bundle for one person (default) or for everyone (PREFIX=/usr/local).
#
#   ./install.sh                 # ~/.local: bundle in ~/.local/lib/auditlens, no root needed
#   sudo PREFIX=/usr/local ./install.sh
#   ./install.sh --uninstall     # (same PREFIX) removes what install put there
#
# Copies the bundle folder, links PREFIX/bin/auditlens to it, and registers the .desktop file,
# the icons and the AppStream metadata so the viewer appears in the application menu.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-$HOME/.local}
app_id=io.auditlens.Viewer
lib="$PREFIX/lib/auditlens"
share="$PREFIX/share"

if [ "${1:-}" = "--uninstall" ]; then
  rm -rf "$lib"
  rm -f "$PREFIX/bin/auditlens" "$share/applications/$app_id.desktop" "$share/metainfo/$app_id.metainfo.xml"
  find "$share/icons/hicolor" -name "$app_id.*" -delete 2>/dev/null || true
  echo "auditlens removed from $PREFIX"
  exit 0
fi

[ -x "$here/auditlens" ] || { echo "install.sh: run it from the unpacked auditlens bundle" >&2; exit 1; }
mkdir -p "$lib" "$PREFIX/bin" "$share/applications" "$share/metainfo"
if [ "$here" != "$lib" ]; then
  rm -rf "$lib"
  cp -R "$here" "$lib"
fi
ln -sf "$lib/auditlens" "$PREFIX/bin/auditlens"
# Exec with the absolute path: the menu works even when PREFIX/bin is not on the PATH.
sed "s|^Exec=auditlens|Exec=$lib/auditlens|" "$here/share/applications/$app_id.desktop" \
  > "$share/applications/$app_id.desktop"
cp "$here/share/metainfo/$app_id.metainfo.xml" "$share/metainfo/"
cp -R "$here/share/icons" "$share/"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
echo "auditlens installed: $PREFIX/bin/auditlens (and in the application menu)"
