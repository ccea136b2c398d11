#!/usr/bin/env bash
# The GPU check: one script that a bare CUDA machine without a package registry runs inside
# one 10-minute command (every step's time limit adds up to at most $BUDGET = 540 s).
#   tests/bench/gpu_check.sh                 on the GPU machine (python3 3.12 with CUDA torch there)
#   tests/bench/gpu_check.sh --cpu-dry-run   here: tiny models on the CPU, the same steps and table,
#                                            figures of no worth (PYTHON=a python with CPU torch)
# Needs the wheels of tests/bench/gpu_wheels.sh in .whl/py<ver>/ (carry .whl with the tree).
# Steps, what users feel first: install each engine's wheels into its own --target dir (used
# through PYTHONPATH) -> build random-weight models of the real geometry (TTS CustomVoice +
# Base, GLM-ASR; bf16, on the GPU) -> TTS over Wyoming (CUDA-graph path) -> ASR over Wyoming
# (compiled decoder) -> voice to voice through the real daemon with both engines, and their GPU
# memory -> graph vs stock parity and stateful vs one-shot codec (float32) -> a frame's time, by part.
# Each step's rows go into $OUT/table.txt as the step ends, so a run cut short still reports
# what it measured; the table is printed last. Logs: $OUT (default .gpu-out/), at most 8 files.
# Knobs (environment): TTS_PATHS=graph|stock,graph  ASR_PATHS=fast|stock,fast  BUDGET=seconds
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
DRY=""; [ "${1:-}" = "--cpu-dry-run" ] && DRY=1
PY=${PYTHON:-python3}
OUT=${OUT:-$ROOT/.gpu-out}; mkdir -p "$OUT"; rm -f "$OUT"/*.log; : > "$OUT/table.txt"
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
WHL=${WHL:-$ROOT/.whl/py$VER}
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/gpu-check.XXXX); trap 'rm -rf "$WORK"' EXIT; fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[ -f "$ROOT/.whl/speech_16k.wav" ] && export SISYPHUS_SPEECH_WAV="$ROOT/.whl/speech_16k.wav"  # no espeak-ng there
BUDGET=${BUDGET:-540}
STARTED=$(date +%s)
TTS_PATHS=${TTS_PATHS:-$([ -n "$DRY" ] && echo stock,graph || echo graph)}
ASR_PATHS=${ASR_PATHS:-fast}

say() { echo "== gpu_check [$(date +%T) +$(( $(date +%s) - STARTED ))s] $*" | tee -a "$OUT/summary.log"; }
row() { echo "$*" | tee -a "$OUT/table.txt"; }
quiet() { grep -vE "Warning|warn\(|flash-attn|^\*+$|^\s*$|Loading weights|Writing model|rope_parameters"; }
# step LIMIT LOG CMD...: run CMD with at most LIMIT seconds (less if the budget is nearly spent),
# its output (filtered) into $OUT/LOG; returns CMD's status (124: timed out, 125: skipped).
step() {
  local limit=$1 log=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - STARTED) - 5 ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then row "  skipped: the check's $BUDGET s budget is spent"; return 125; fi
  timeout -k 5 "$limit" "$@" 2>&1 | quiet >> "$OUT/$log"
  local status=${PIPESTATUS[0]}
  [ "$status" = 124 ] && row "  TIMED OUT after $limit s (see $log)"
  [ "$status" != 0 ] && [ "$status" != 124 ] && row "  exit status $status (see $log: $(grep -E 'Error|error' "$OUT/$log" | tail -1 | cut -c1-160))"
  return "$status"
}

if [ -n "$DRY" ]; then
  SIZE=tiny ASR_SIZE=tiny DTYPE=float32 DEVICE=cpu MACHINE="CPU dry run (figures mean nothing)"
  TTS_BENCH=(--tiny --runs 2 --warmup 1 --frames 20)
  ASR_BENCH=(--tiny --device cpu --lengths 2:10 --repeats 1)
  V2V=(--device cpu --turns 2)
else
  SIZE=1.7b ASR_SIZE=nano DTYPE=bfloat16 DEVICE=cuda
  MACHINE=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
  TTS_BENCH=(--device cuda --runs 8 --warmup 1 --frames 50)
  ASR_BENCH=(--device cuda --dtype bfloat16 --lengths 5:20,15:55 --repeats 3 --pace 2)
  V2V=(--device cuda --turns 5)
fi
row "================ GPU check on $MACHINE, $(date -u +%F)"
"$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  | tee -a "$OUT/table.txt"

say "1. installing wheels from $WHL"
for set in tts asr daemon; do
  ls "$WHL/$set"/*.whl >/dev/null 2>&1 || { row "no wheels in $WHL/$set: run tests/bench/gpu_wheels.sh where PyPI is reachable"; continue; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$WORK/site_$set" \
    "$WHL/$set"/*.whl 2>&1 | grep -v WARNING | tail -3 &
done
wait
TTS_PATH="$WORK/site_tts:$ROOT"; ASR_PATH="$WORK/site_asr:$ROOT"; DAEMON_PATH="$WORK/site_daemon:$ROOT"
PYTHONPATH=$TTS_PATH "$PY" -c "import transformers, qwen_tts, faster_qwen3_tts, wyoming, engines.tts.fast
print('tts stack: transformers', transformers.__version__)" 2>&1 | quiet | tee -a "$OUT/summary.log"
PYTHONPATH=$ASR_PATH "$PY" -c "import transformers, wyoming, engines.asr.transcriber
print('asr stack: transformers', transformers.__version__)" 2>&1 | quiet | tee -a "$OUT/summary.log"

say "2. building random-weight $SIZE models ($DTYPE, weights initialised on $DEVICE): TTS CustomVoice + Base, GLM-ASR"
MODELS="$WORK/models"
PYTHONPATH=$TTS_PATH step 150 build.log "$PY" tests/fixtures/tiny_qwen3tts.py "$MODELS/$SIZE" --size "$SIZE" \
  --dtype "$DTYPE" --device "$DEVICE" &
PYTHONPATH=$ASR_PATH step 150 build_asr.log "$PY" tests/fixtures/tiny_glmasr.py "$MODELS/asr" --size "$ASR_SIZE" \
  --dtype "$DTYPE" --device "$DEVICE" &
wait
cat "$OUT/build_asr.log" >> "$OUT/build.log" 2>/dev/null; rm -f "$OUT/build_asr.log"
grep -hE "built|written" "$OUT/build.log"

say "3. TTS over Wyoming ($TTS_PATHS): first audio, x real time, GPU memory, CustomVoice <-> Base swap"
row ""
PYTHONPATH=$TTS_PATH step 150 tts.log "$PY" tests/bench/bench_tts.py --models "$MODELS" --paths "$TTS_PATHS" \
  "${TTS_BENCH[@]}"
sed -n '/^TTS engine over Wyoming/,$p' "$OUT/tts.log" | tee -a "$OUT/table.txt"

say "4. ASR over Wyoming ($ASR_PATHS): audio-stop -> final transcript"
row ""; row "ASR engine over Wyoming (tests/bench/bench_asr.py ${ASR_BENCH[*]} --paths $ASR_PATHS):"
PYTHONPATH=$ASR_PATH step 130 asr.log "$PY" tests/bench/bench_asr.py --paths "$ASR_PATHS" "${ASR_BENCH[@]}"
sed -n '/^ *path  *audio s/,$p' "$OUT/asr.log" | tee -a "$OUT/table.txt"

say "5. voice to voice: the real daemon, both engines, a local LLM (150 ms to first token, 100 tokens/s)"
row ""
if [ ! -f tests/bench/bench_v2v.py ] || [ ! -d "$WORK/site_daemon" ]; then
  row "voice to voice: skipped (no tests/bench/bench_v2v.py or no daemon wheels)"
else PYTHONPATH=$DAEMON_PATH step 150 v2v.log "$PY" tests/bench/bench_v2v.py --models "$MODELS/$SIZE" \
  --asr-model "$MODELS/asr" --tts-python "env PYTHONPATH=$TTS_PATH $PY" --asr-python "env PYTHONPATH=$ASR_PATH $PY" \
  "${V2V[@]}"
sed -n '/^voice to voice/,$p' "$OUT/v2v.log" | tee -a "$OUT/table.txt"; fi

say "6. parity (float32): greedy graph path vs stock path, stateful codec vs one-shot"
row ""
PYTHONPATH=$TTS_PATH step 90 parity.log "$PY" tests/bench/tts_parity.py "$MODELS/$SIZE/custom_voice" --device "$DEVICE"
grep -E "^parity" "$OUT/parity.log" | tee -a "$OUT/table.txt"

say "7. where a graph-path frame's time goes (GPU time of each graph, wall time of a frame, codec decode)"
row ""
PYTHONPATH=$TTS_PATH step 60 steps.log "$PY" tests/bench/tts_steps.py "$MODELS/$SIZE/custom_voice" --device "$DEVICE"
sed -n '/^TTS graph path, per step/,$p;/^tts steps:/p' "$OUT/steps.log" | tee -a "$OUT/table.txt"

say "done in $(( $(date +%s) - STARTED )) s; logs in $OUT"
echo; cat "$OUT/table.txt"
