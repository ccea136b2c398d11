#!/bin/bash
# Headless desktop for the desktop tests and for developers without a sound card or display:
#
#   tests/desktop/harness.sh CMD ARGS...      e.g.  tests/desktop/harness.sh .venv/bin/python -m pytest tests/desktop
#
# Starts, in a private temp dir that is removed afterwards:
#   - Xvfb on a free display (-displayfd), no TCP listener
#   - trayer, an XEmbed tray host (owns _NET_SYSTEM_TRAY_S0), so tray icons can dock
#   - PulseAudio in user mode with null sinks 'spk' (default sink, "the speakers") and
#     'micsink' ("what the microphone hears"), and source 'vmic' = remap of micsink.monitor
#     (default source). Feed the mic:  paplay --device=micsink speech.wav
#     Record the speakers:            parec --device=spk.monitor  (or PULSE_SOURCE=spk.monitor)
#   - one silent low-latency pacat stream into each null sink. REQUIRED on PulseAudio 16: an
#     idle null sink is clocked so coarsely that a recorder gets ~40% of real time without it.
#   - CMD inside a private D-Bus session (dbus-run-session), with DISPLAY, XDG_RUNTIME_DIR,
#     PULSE_SERVER, NO_AT_BRIDGE=1 and SISYPHUS_HARNESS=1 exported.
# Exits with CMD's exit code; 70 if the harness itself could not start (message on stderr).
# Debian packages: tests/desktop/apt-packages.txt. HARNESS_KEEP=1 keeps the logs dir.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 64; }

die() {
  echo "harness: $*" >&2
  exit 70
}

for tool in Xvfb trayer pulseaudio pactl pacat xdotool dbus-run-session; do
  command -v "$tool" >/dev/null || die "'$tool' not found: install the packages in $HERE/apt-packages.txt (apt-get install -y --no-install-recommends \$(grep -v '^#' $HERE/apt-packages.txt))"
done

WORK="$(mktemp -d /tmp/sisyphus-harness.XXXXXX)"
chmod 700 "$WORK"
PIDS=()

cleanup() {
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do  # wait at most ~2 s per process, then SIGKILL
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${HARNESS_KEEP:-0}" = 1 ]; then echo "harness: logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for WHAT CMD...: poll CMD for up to 5 s
  local what="$1"; shift
  for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
  die "$what did not come up within 5 s; logs in $WORK (rerun with HARNESS_KEEP=1)"
}

start_x() {
  exec 3>"$WORK/displayfd"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
  PIDS+=($!)
  exec 3>&-
  wait_for "Xvfb" test -s "$WORK/displayfd"
  export DISPLAY=":$(head -1 "$WORK/displayfd")"
  wait_for "X display $DISPLAY" xdpyinfo
}

start_tray() {
  trayer --edge top --align right --widthtype pixel --width 300 --height 32 \
    --SetDockType true --SetPartialStrut false --transparent false --tint 0x404040 \
    >"$WORK/trayer.log" 2>&1 &
  PIDS+=($!)
  wait_for "trayer (tray host)" xdotool search --classname '^panel$'
}

start_pulse() {
  export XDG_RUNTIME_DIR="$WORK/run"
  mkdir -m 700 "$XDG_RUNTIME_DIR"
  export PULSE_SERVER="unix:$XDG_RUNTIME_DIR/pulse/native"
  cat >"$WORK/harness.pa" <<EOF
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name=spk sink_properties=device.description=VirtualSpeaker
load-module module-null-sink sink_name=micsink sink_properties=device.description=VirtualMicFeed
load-module module-remap-source master=micsink.monitor source_name=vmic source_properties=device.description=VirtualMic
set-default-sink spk
set-default-source vmic
EOF
  # As root PulseAudio only warns; -n: no default.pa, so only the modules above load.
  pulseaudio -n -F "$WORK/harness.pa" --daemonize=no --exit-idle-time=-1 --disallow-exit \
    --log-target=file:"$WORK/pulse.log" >/dev/null 2>&1 &
  PIDS+=($!)
  wait_for "PulseAudio" pactl info
  local sink
  for sink in spk micsink; do
    pacat --playback -d "$sink" --latency-msec=20 --rate 16000 --channels 1 --format s16le \
      </dev/zero >/dev/null 2>&1 &
    PIDS+=($!)
  done
  # Right after start-up the sources deliver nothing for ~1.5 s; a test opening a stream then
  # would read silence. Wait until both sources give at least half of real time.
  wait_clocked vmic
  wait_clocked spk.monitor
}

wait_clocked() {  # wait_clocked SOURCE: 0.3 s reads until one returns >= 4800 bytes (16 kHz s16)
  local n
  for _ in $(seq 30); do
    n=$(timeout 0.3 parec -d "$1" --raw --rate 16000 --channels 1 --format s16le \
          --latency-msec=20 2>/dev/null | wc -c || true)
    [ "$n" -ge 4800 ] && return 0
  done
  die "PulseAudio source '$1' delivers no audio (got $n bytes in 0.3 s); logs in $WORK"
}

start_x
start_tray
start_pulse
export NO_AT_BRIDGE=1 SISYPHUS_HARNESS=1
echo "harness: DISPLAY=$DISPLAY PULSE_SERVER=$PULSE_SERVER" >&2

# CMD runs in the background so that a TERM/INT to the harness (a CI timeout) reaches it too;
# '<&0' keeps its stdin (a background job would otherwise read /dev/null); setsid gives it its
# own process group, so the whole tree (dbus-run-session and CMD's children) gets the signal.
setsid dbus-run-session -- "$@" <&0 &
CMD_PID=$!
trap 'kill -TERM -- "-$CMD_PID" 2>/dev/null || true' INT TERM
set +e
wait "$CMD_PID"
rc=$?
while kill -0 "$CMD_PID" 2>/dev/null; do wait "$CMD_PID"; rc=$?; done  # wait again after a trap
set -e
exit $rc
