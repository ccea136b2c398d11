#!/usr/bin/env bash
# Install sisyphus for the current user (Linux, macOS) from this checkout:
#   installer/install.sh [--yes] [--no-system] [sisyphus setup options]   e.g. installer/install.sh --profile cpu
# A thin wrapper over the way without a clone (README): `uv tool install sisyphus-assistant` (or pipx),
# then `sisyphus setup`; here the package is this checkout, which may be deleted afterwards.
# 0. Linux: checks what the app needs from the system (installer/system.sh): PortAudio (asks
#    before installing it, or stops with the one command to run) and the tray's GTK/AppIndicator
#    packages (optional). --yes installs them without asking; --no-system never touches the system.
# 1. installs the app as a Python tool: with uv when it is on PATH, else pipx, else a uv of its own
#    (<data dir>/uv); the app gets its own venv and `sisyphus` lands in ~/.local/bin
# 2. Linux: the tray uses the distribution's PyGObject, linked into the app's venv, else PyGObject
#    built from source; a failure is one line
# 3. runs the installed `sisyphus setup` (engine venvs for this machine's profile, default config)
# <data dir> is the platformdirs user data dir: ~/.local/share/sisyphus (XDG_DATA_HOME) on
# Linux, ~/Library/Application Support/sisyphus on macOS. PYTHON picks the interpreter (3.11+).
# Details of every step that failed are in <data dir>/install.log.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
case "$(uname -s)" in
  Darwin) DATA="$HOME/Library/Application Support/sisyphus" ;;
  *) DATA="${XDG_DATA_HOME:-$HOME/.local/share}/sisyphus" ;;
esac
BIN="$HOME/.local/bin"
LOG="$DATA/install.log"
ASSUME_YES=0 SYSTEM=1 TRAY_HINT=""
say() { echo "== install.sh: $*" >&2; }
# Runs "$@" with its output in $LOG; on failure, one line pointing at the log.
quietly() {
  local what="$1"
  shift
  echo "== $(date '+%F %T') $what: $*" >>"$LOG"
  if "$@" >>"$LOG" 2>&1; then return 0; fi
  say "$what failed (details in $LOG)"
  return 1
}

setup_args=()
for arg in "$@"; do
  case "$arg" in
    --yes | -y) ASSUME_YES=1 ;;
    --no-system) SYSTEM=0 ;;
    *) setup_args+=("$arg") ;;
  esac
done
set -- "${setup_args[@]+"${setup_args[@]}"}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: sisyphus needs Python 3.11 or newer; '$PY' is $("$PY" -V 2>&1 || echo missing)." \
    "Install one and run: PYTHON=/path/to/python3.11 $0" >&2
  exit 1
fi
mkdir -p "$DATA"
: >"$LOG"

if [ "$(uname -s)" = Linux ]; then
  # shellcheck source=installer/system.sh
  . "$REPO/installer/system.sh"
  ensure_portaudio || exit 2
  offer_tray_packages
fi

# The Python tool installer: uv, else pipx, else uv bootstrapped into <data dir>/uv.
if command -v uv >/dev/null 2>&1; then
  TOOL=uv UV=$(command -v uv)
elif command -v pipx >/dev/null 2>&1; then
  TOOL=pipx
else
  TOOL=uv UV="$DATA/uv/bin/uv"
  if [ ! -x "$UV" ]; then
    say "installing uv (the Python tool installer) into $DATA/uv"
    quietly "creating a venv for uv" "$PY" -m venv "$DATA/uv" || exit 1
    quietly "installing uv" "$DATA/uv/bin/python" -m pip install --disable-pip-version-check -q uv || exit 1
  fi
fi
PYGOBJECT="PyGObject>=3.42,<3.50"  # pyproject.toml's linux-tray extra
# Installs this checkout as the tool `sisyphus-assistant`, replacing an older install; "$@": more packages.
tool_install() {
  if [ "$TOOL" = uv ]; then
    quietly "installing sisyphus" "$UV" tool install --force --reinstall --python "$PY" \
      ${1:+--with "$1"} "$REPO"
  else
    quietly "installing sisyphus" pipx install --force --python "$PY" "$REPO" &&
      { [ -z "${1:-}" ] || quietly "installing PyGObject" pipx inject sisyphus-assistant "$1"; }
  fi
}

say "installing sisyphus with $TOOL"
tool_install || exit 1
# The app venv's interpreter: the one named by the installed script's first line.
APP_PY=$(sed -n '1s/^#!//p' "$BIN/sisyphus")
if [ ! -x "$APP_PY" ]; then
  say "the installed $BIN/sisyphus names no interpreter (details in $LOG)"
  exit 1
fi
if [ "$(uname -s)" = Linux ]; then
  if link_system_gi "$("$APP_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" &&
    "$APP_PY" -c 'import gi' 2>/dev/null; then
    say "tray: GTK/AppIndicator, with the distribution's PyGObject"
  elif tool_install "$PYGOBJECT"; then
    say "tray: GTK/AppIndicator (PyGObject built from source)"
  else
    tool_install || exit 1
    say "tray: no menu (pystray's xorg fallback); for the full tray: ${TRAY_HINT:-install python3-gi (PyGObject)}," \
      "then run $0 again"
  fi
fi
say "installed $BIN/sisyphus"

say "sisyphus setup $*"
# -P: import the installed copy, not a checkout that happens to be the current directory
status=0
"$APP_PY" -P -m installer.setup "$@" || status=$?

case ":$PATH:" in
  *":$BIN:"*) ;;
  *) say "$BIN is not on your PATH: add  export PATH=\"\$HOME/.local/bin:\$PATH\"  to ~/.profile" \
    "(or run $BIN/sisyphus)" ;;
esac
say "LLM: sisyphus talks to an OpenAI-compatible server, by default a local Ollama at" \
  "http://127.0.0.1:11434/v1 with the model llama3.2 (install Ollama from https://ollama.com, then" \
  "run: ollama pull llama3.2). Another server or model: set base_url and model under [llm] in the" \
  "file \`sisyphus config path\` names, or OPENAI_BASE_URL; its key in LLM_API_KEY."
exit "$status"
