# shellcheck shell=bash
# What sisyphus needs from the operating system, sourced by installer/install.sh (Linux):
#   PortAudio (required: sounddevice's Linux wheel ships none; no PortAudio = no microphone, no speech)
#   the GTK/AppIndicator tray: PyGObject, GTK 3 and AyatanaAppIndicator typelibs (optional: without
#   them the tray falls back to pystray's xorg backend, which has no menu)
# Distributions known: Debian/Ubuntu (and derivatives), Fedora (and RHEL-likes), Arch (and derivatives).
# SISYPHUS_PORTAUDIO_PROBE: a command that exits 0 when PortAudio can be loaded (default: ask
# Python's ctypes, the way sounddevice looks for it); the tests point it at a probe they control.

# The distribution family from /etc/os-release (ID, then ID_LIKE): debian, fedora, arch, or "".
os_family() {
  local release="${SISYPHUS_OS_RELEASE:-/etc/os-release}" id="" id_like="" word
  # shellcheck disable=SC1090
  [ -r "$release" ] && id=$(. "$release" && echo "${ID:-}") && id_like=$(. "$release" && echo "${ID_LIKE:-}")
  for word in $id $id_like; do
    case "$word" in
      debian | ubuntu) echo debian; return ;;
      fedora | rhel | centos) echo fedora; return ;;
      arch) echo arch; return ;;
    esac
  done
  echo ""
}

portaudio_packages() {
  case "$1" in debian) echo libportaudio2 ;; fedora | arch) echo portaudio ;; esac
}

tray_packages() {
  case "$1" in
    debian) echo python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 ;;
    fedora) echo python3-gobject gtk3 libayatana-appindicator-gtk3 ;;
    arch) echo python-gobject gtk3 libayatana-appindicator ;;
  esac
}

# The command a user runs to install packages "$2..." on family "$1".
install_command() {
  local family="$1" sudo=""
  shift
  [ "$(id -u)" = 0 ] || sudo="sudo "
  case "$family" in
    debian) echo "${sudo}apt-get install -y $*" ;;
    fedora) echo "${sudo}dnf install -y $*" ;;
    arch) echo "${sudo}pacman -S --needed --noconfirm $*" ;;
  esac
}

portaudio_found() {
  if [ -n "${SISYPHUS_PORTAUDIO_PROBE:-}" ]; then
    sh -c "$SISYPHUS_PORTAUDIO_PROBE" >/dev/null 2>&1
    return
  fi
  "$PY" -c 'import ctypes.util, sys; sys.exit(ctypes.util.find_library("portaudio") is None)' 2>/dev/null
}

# Ask before changing the system: yes with --yes, no with --no-system or without a terminal to ask.
confirm() {
  [ "$ASSUME_YES" = 1 ] && return 0
  [ -t 0 ] || return 1
  local answer
  read -r -p "$1 [Y/n] " answer
  case "$answer" in "" | y | Y | yes) return 0 ;; *) return 1 ;; esac
}

# PortAudio: found, installed (asking first), or a stop with the one command to run.
ensure_portaudio() {
  portaudio_found && return 0
  local family cmd
  family=$(os_family)
  if [ -z "$family" ]; then
    say "PortAudio was not found: install your distribution's PortAudio package (libportaudio2 /" \
      "portaudio), then run $0 again; sisyphus can neither hear nor speak without it"
    [ "$SYSTEM" = 0 ]
    return
  fi
  cmd=$(install_command "$family" "$(portaudio_packages "$family")")
  if [ "$SYSTEM" = 1 ] && confirm "PortAudio is missing; install it with '$cmd'?"; then
    # shellcheck disable=SC2086
    quietly "installing PortAudio" $cmd && portaudio_found && { say "installed PortAudio"; return 0; }
  fi
  if [ "$SYSTEM" = 0 ]; then
    say "PortAudio is missing (sisyphus can neither hear nor speak without it): run  $cmd  (--no-system: going on)"
    return 0
  fi
  say "PortAudio is missing: run  $cmd  then run $0 again (sisyphus can neither hear nor speak without it)"
  return 1
}

package_installed() {
  case "$1" in
    debian) dpkg -s "$2" >/dev/null 2>&1 ;;
    fedora) rpm -q "$2" >/dev/null 2>&1 ;;
    arch) pacman -Q "$2" >/dev/null 2>&1 ;;
  esac
}

# The tray's system packages: installed when the user agrees, else named; never a reason to stop.
offer_tray_packages() {
  local family cmd p missing=""
  family=$(os_family)
  [ -n "$family" ] || return 0
  for p in $(tray_packages "$family"); do package_installed "$family" "$p" || missing="$missing $p"; done
  [ -n "$missing" ] || return 0
  cmd=$(install_command "$family" "${missing# }")
  if [ "$SYSTEM" = 1 ] && confirm "Install the tray's GTK/AppIndicator packages ('$cmd')?"; then
    # shellcheck disable=SC2086
    quietly "installing the tray packages" $cmd && return 0
  fi
  # shellcheck disable=SC2034  # read by install.sh
  TRAY_HINT="$cmd"
}

# The distribution's PyGObject (python3-gi), made visible to the app venv without a source build:
# its gi package is linked in when it was built for this same Python.
link_system_gi() {
  local venv_site="$1" gi_dir="" candidate
  for candidate in "$PY" /usr/bin/python3; do
    [ -x "$(command -v "$candidate")" ] || continue
    "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, sys.argv[1].split("."))))' \
      "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" 2>/dev/null || continue
    gi_dir=$("$candidate" -c 'import gi, os; print(os.path.dirname(gi.__file__))' 2>/dev/null) && break
    gi_dir=""
  done
  [ -n "$gi_dir" ] || return 1
  ln -sfn "$gi_dir" "$venv_site/gi"
}
