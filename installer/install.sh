#!/usr/bin/env bash
# Install sisyphus for the current user (Linux, macOS), from this checkout:
#   installer/install.sh [sisyphus setup options]     e.g. installer/install.sh --profile cpu
# 1. copies the source to <data dir>/src (the checkout may be deleted afterwards; the engine
#    venvs are built from this copy, and `sisyphus setup` repairs them from it later)
# 2. creates the app venv <data dir>/app and installs sisyphus into it
# 3. links ~/.local/bin/sisyphus to it
# 4. runs `sisyphus setup` (engine venvs for this machine's profile, default config)
# <data dir> is the platformdirs user data dir: ~/.local/share/sisyphus (XDG_DATA_HOME) on
# Linux, ~/Library/Application Support/sisyphus on macOS. PYTHON picks the interpreter (3.11+).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
case "$(uname -s)" in
  Darwin) DATA="$HOME/Library/Application Support/sisyphus" ;;
  *) DATA="${XDG_DATA_HOME:-$HOME/.local/share}/sisyphus" ;;
esac
SRC="$DATA/src"
APP="$DATA/app"
BIN="$HOME/.local/bin"
say() { echo "== install.sh: $*" >&2; }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: sisyphus needs Python 3.11 or newer; '$PY' is $("$PY" -V 2>&1 || echo missing)." \
    "Install one and run: PYTHON=/path/to/python3.11 $0" >&2
  exit 1
fi

say "copying the source to $SRC"
mkdir -p "$DATA"
rm -rf "$SRC.new"
mkdir "$SRC.new"
tar -C "$REPO" --exclude=./.git --exclude=./.venv --exclude=./.cache --exclude='__pycache__' -cf - . |
  tar -C "$SRC.new" -xf -
rm -rf "$SRC"
mv "$SRC.new" "$SRC"

if [ ! -x "$APP/bin/python" ]; then
  say "creating the app venv at $APP"
  "$PY" -m venv "$APP"
fi
say "installing sisyphus into $APP"
"$APP/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip
if [ "$(uname -s)" = Linux ] && "$APP/bin/python" -m pip install --disable-pip-version-check -q -e "${SRC}[linux-tray]"; then
  say "installed with the GTK/AppIndicator tray"
else
  [ "$(uname -s)" = Linux ] && say "PyGObject did not build (needs libgirepository1.0-dev libcairo2-dev pkg-config):" \
    "the tray falls back to pystray's xorg backend (no menu); install those packages and re-run for the full tray"
  "$APP/bin/python" -m pip install --disable-pip-version-check -q -e "$SRC"
fi

mkdir -p "$BIN"
ln -sfn "$APP/bin/sisyphus" "$BIN/sisyphus"
say "linked $BIN/sisyphus"
case ":$PATH:" in
  *":$BIN:"*) ;;
  *) say "$BIN is not on your PATH: add  export PATH=\"\$HOME/.local/bin:\$PATH\"  to ~/.profile" ;;
esac

say "sisyphus setup $*"
# -P: import the installed copy, not a checkout that happens to be the current directory
exec "$APP/bin/python" -P -m installer.setup "$@"
