#!/usr/bin/env bash
# One GPU-machine call for the engine: build native/ with CUDA (sm_90a) and the benches, run the
# engine's GPU tests, then the full-DiT benchmark against the same-run PyTorch baseline.
# Usage (repo root): [ATTNS="sagesla sla"] [INT8_ATTNS="sagesla"] scripts/gpu/run_dit.sh [tests|bench|all] [1.3b|14b] [480p|720p]
set -uo pipefail
MODE=${1:-all}; MODEL=${2:-1.3b}; RES=${3:-480p}
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
B=build-dit
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake-dit.log" 2>&1 \
  || { tail -30 "$OUT/cmake-dit.log"; exit 1; }
ninja -C $B -k 0 wan_dit_cuda_test wan_dit_test rcm_test dit_bench >"$OUT/build-dit.log" 2>&1 || { grep -E "error" -A3 "$OUT/build-dit.log" | head -40; echo "BUILD FAILED"; }
if [[ $MODE == tests || $MODE == all ]]; then
  for t in wan_dit_cuda_test wan_dit_test rcm_test; do echo "== $t"; timeout 120 $B/$t 2>&1 | tail -12; done
fi
if [[ $MODE == bench || $MODE == all ]]; then
  W=/tmp/dit-$MODEL.safetensors
  case $RES in 480p) TT=21; HH=60; WW=104;; 720p) TT=21; HH=90; WW=160;; esac
  PYTHONUNBUFFERED=1 timeout 420 python3 bench/native/dit_torch_baseline.py --model $MODEL --res $RES --weights $W | tee "$OUT/dit-torch-$MODEL-$RES.json"
  for a in ${ATTNS:-sagesla sla original}; do
    timeout 300 $B/dit_bench $W $TT $HH $WW $a 0.1 | tee -a "$OUT/dit-ours-$MODEL-$RES.json"
  done
  for a in ${INT8_ATTNS:-}; do  # W8A8 block linears (weights quantized on upload)
    timeout 300 $B/dit_bench $W $TT $HH $WW $a 0.1 int8 | tee -a "$OUT/dit-ours-$MODEL-$RES.json"
  done
fi
