#!/usr/bin/env bash
# The GPU check: one script a bare CUDA machine without a package registry runs in < 6 minutes.
#   tests/bench/gpu_check.sh                 on the GPU machine (python3 3.12 with CUDA torch there)
#   tests/bench/gpu_check.sh --cpu-dry-run   here: tiny models on the CPU, same steps, no figures of worth
# Needs the wheels of tests/bench/gpu_wheels.sh in .whl/py<ver>/ (carry .whl with the tree).
# Steps: install each engine's wheels into its own --target dir (used through PYTHONPATH) ->
# build random CustomVoice + Base models (1.7B, bf16, on the GPU) -> the graph path against
# the stock path on the same text, and the stateful codec decode against a one-shot decode
# (tests/bench/tts_parity.py) -> bench_tts.py (stock vs graph) -> bench_asr.py (stock vs fast)
# -> one combined table, last. Logs go to $OUT (default .gpu-out/).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
DRY=""; [ "${1:-}" = "--cpu-dry-run" ] && DRY=1
PY=${PYTHON:-python3}
OUT=${OUT:-$ROOT/.gpu-out}; mkdir -p "$OUT"
VER=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
WHL=${WHL:-$ROOT/.whl/py$VER}
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/gpu-check.XXXX); trap 'rm -rf "$WORK"' EXIT; fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
say() { echo "== gpu_check [$(date +%T)] $*" | tee -a "$OUT/summary.log"; }
quiet() { grep -vE "Warning|warn\(|flash-attn|^\*+$|^\s*$|Loading weights|Writing model|rope_parameters"; }

if [ -n "$DRY" ]; then
  SIZE=tiny DTYPE=float32 DEVICE=cpu
  TTS_BENCH=(--tiny --runs 2 --warmup 1 --frames 20)
  ASR_BENCH=(--tiny --device cpu --paths stock,fast --lengths 2:10 --repeats 1)
else
  SIZE=1.7b DTYPE=bfloat16 DEVICE=cuda
  TTS_BENCH=(--device cuda --runs 8 --warmup 1 --frames 50)
  ASR_BENCH=(--device cuda --dtype bfloat16 --paths stock,fast --lengths 2:10,5:20,15:55 --repeats 3 --pace 2)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
fi
"$PY" -c "import torch, transformers; print('python', __import__('sys').version.split()[0], 'torch', torch.__version__,
 'cuda', torch.cuda.is_available(), 'machine transformers', transformers.__version__)" | tee -a "$OUT/summary.log"

say "1. installing wheels from $WHL"
for set in tts asr; do
  ls "$WHL/$set"/*.whl >/dev/null 2>&1 || { say "no wheels in $WHL/$set: run tests/bench/gpu_wheels.sh on a machine with PyPI"; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$WORK/site_$set" \
    "$WHL/$set"/*.whl 2>&1 | grep -v WARNING | tail -3
done
TTS_PATH="$WORK/site_tts:$ROOT"; ASR_PATH="$WORK/site_asr:$ROOT"
PYTHONPATH=$TTS_PATH "$PY" -c "import transformers, qwen_tts, faster_qwen3_tts, wyoming, engines.tts.fast
print('tts stack: transformers', transformers.__version__)" 2>&1 | quiet | tee -a "$OUT/summary.log"

say "2. building random $SIZE CustomVoice + Base models ($DTYPE, weights initialised on $DEVICE)"
MODELS="$WORK/models"
PYTHONPATH=$TTS_PATH timeout 200 "$PY" tests/fixtures/tiny_qwen3tts.py "$MODELS/$SIZE" --size "$SIZE" \
  --dtype "$DTYPE" --device "$DEVICE" 2>&1 | quiet | tee "$OUT/build.log" | grep built

say "3. graph path vs stock path on the same text (greedy), stateful codec decode vs one-shot"
PYTHONPATH=$TTS_PATH timeout 150 "$PY" tests/bench/tts_parity.py "$MODELS/$SIZE/custom_voice" --device "$DEVICE" \
  2>&1 | quiet > "$OUT/tts_parity.log"; echo "exit status $?" >> "$OUT/tts_parity.log"
grep -E "^parity|^exit|Error" "$OUT/tts_parity.log"

say "4. TTS benchmark: stock vs graph over Wyoming"
PYTHONPATH=$TTS_PATH timeout 240 "$PY" tests/bench/bench_tts.py --models "$MODELS" "${TTS_BENCH[@]}" \
  2>&1 | quiet > "$OUT/tts_bench.log"; echo "exit status $?" >> "$OUT/tts_bench.log"
tail -4 "$OUT/tts_bench.log"

say "5. ASR benchmark: stock vs fast"
PYTHONPATH=$ASR_PATH timeout 230 "$PY" tests/bench/bench_asr.py "${ASR_BENCH[@]}" \
  2>&1 | quiet > "$OUT/asr_bench.log"; echo "exit status $?" >> "$OUT/asr_bench.log"
tail -3 "$OUT/asr_bench.log"

say "done; logs in $OUT"
{
  echo; echo "================ GPU check: $(cat "$OUT/gpu.txt" 2>/dev/null || echo "CPU dry run (figures mean nothing)")"
  grep -E "^parity" "$OUT/tts_parity.log"; grep "^exit" "$OUT/tts_parity.log" | sed 's/^/tts parity: /'
  echo; sed -n '/^TTS engine over Wyoming/,$p' "$OUT/tts_bench.log" | grep -v "^exit"
  grep "^exit" "$OUT/tts_bench.log" | sed 's/^/tts bench: /'
  echo; echo "ASR engine (tests/bench/bench_asr.py ${ASR_BENCH[*]}):"; tail -12 "$OUT/asr_bench.log"
} | tee "$OUT/table.txt"
