#!/usr/bin/env bash
# Download the wheels tests/bench/gpu_check.sh installs on a GPU machine without a package
# registry. Run it where PyPI is reachable; carry the folder (default .whl/, git-ignored)
# with the working tree.
#   tests/bench/gpu_wheels.sh [PYTHON_VERSION]     default 3.12 (the lent H200 machine's python3)
# Layout: .whl/py<ver>/{tts,asr,daemon}/*.whl, one set per engine and one for the daemon, installed
# there with `pip install --no-index --no-deps --target`. What the GPU machine already has
# (../shared/research/gpu.md: torch 2.11 + torchaudio 2.11 for CUDA, transformers 5.17, numpy,
# scipy, numba, scikit-learn, onnxruntime, einops, tokenizers, huggingface_hub, safetensors,
# pyyaml, regex, tqdm, typer ...) is not downloaded.
set -euo pipefail
cd "$(dirname "$0")/../.."
VER=${1:-3.12}
DEST=".whl/py${VER/./}"
ABI="cp${VER/./}"

# TTS: the same pins as engines/tts/requirements.txt + installer/fixups.py (transformers 5.15.1
# shadows the machine's 5.17, which qwen-tts-hf cannot load with).
TTS=(transformers==5.15.1 "tokenizers>=0.22,<=0.23" qwen-tts-hf==0.1.1.post1 faster-qwen3-tts==0.5.4
     accelerate==1.12.0 librosa==0.11.0 audioread decorator lazy_loader msgpack joblib pooch platformdirs
     soxr soundfile cffi pycparser sox "wyoming>=1.10,<2" typing_extensions)
# ASR: the machine's transformers 5.17 is within engines/asr/requirements.txt; wyoming and the
# Silero VAD model (inside the faster-whisper wheel, found there by engines/asr/vad.py).
ASR=("wyoming>=1.10,<2" faster-whisper==1.2.1)
# The daemon, headless with --mic-file/--speaker-file (tests/bench/bench_v2v.py): what it imports
# that the machine lacks (openai and its pydantic/httpx2 stack, wyoming, platformdirs), tomli-w for
# the bench's settings file; the versions the test suite runs with. typing_extensions: pydantic
# needs >= 4.16. numpy, anyio, h11, idna and nvidia-ml-py are the machine's own.
DAEMON=(openai==3.60.0 httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5 jiter==0.19.0 sniffio==1.3.1
        pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
        typing_extensions==4.16.0 "wyoming>=1.10,<2" platformdirs==4.14.9 tomli-w==1.2.0
        anyio idna h11)  # the GPU machine has these three, maybe older than openai wants

fetch() {
  local where=$1; shift
  mkdir -p "$where"
  python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
    --python-version "$VER" --implementation cp --abi "$ABI" --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d "$where" "$@" 2>&1 | grep -v "^WARNING: Location" || true
}
fetch "$DEST/tts" "${TTS[@]}"
fetch "$DEST/asr" "${ASR[@]}"
fetch "$DEST/daemon" "${DAEMON[@]}"
for set in tts asr daemon; do
  echo "$DEST/$set: $(ls "$DEST/$set" | wc -l) wheels, $(du -sh "$DEST/$set" | cut -f1)"
done
# The GPU machine has no espeak-ng: the benchmarks' speech travels as a WAV (tests/bench/speech.py).
PY=python3; [ -x .venv/bin/python ] && PY=.venv/bin/python
"$PY" tests/bench/speech.py .whl/speech_16k.wav || echo "no speech WAV: the ASR benchmark on the GPU will send noise"
