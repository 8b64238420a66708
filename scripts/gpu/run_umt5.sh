#!/usr/bin/env bash
# One GPU-machine call for the umT5 int8-weight work: build native/ with CUDA (sm_90a), run the
# int8 row-quantizer op test and the umT5 GPU test (bf16 and int8 vs the fp32 CPU encoder), then the
# bf16-vs-int8 encoder benchmark at the real umT5-XXL shape with random weights (written meanwhile
# by make_umt5_random.py), and the test's comparisons at the real shape (umt5_bench --parity: 1 layer
# and all 24, against the fp32 CPU encoder). Usage (repo root): scripts/gpu/run_umt5.sh [iters=10] [tests=1]
set -uo pipefail
ITERS=${1:-10}; TESTS=${2:-1}
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
B=${B:-/tmp/b-umt5}
WT=/tmp/umt5-xxl-random.pth
WT1=/tmp/umt5-xxl-random-1layer.pth
( [[ -f $WT ]] || python3 bench/native/make_umt5_random.py $WT; [[ -f $WT1 ]] || python3 bench/native/make_umt5_random.py $WT1 1 ) >"$OUT/make-umt5.log" 2>&1 &
GEN=$!
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake-umt5.log" 2>&1 \
  || { tail -30 "$OUT/cmake-umt5.log"; exit 1; }
SECONDS=0
ninja -C $B -k 0 int8_rows_cuda_test umt5_cuda_test umt5_bench >"$OUT/build-umt5.log" 2>&1 || { grep -E "error" -A3 "$OUT/build-umt5.log" | head -60; echo "BUILD FAILED"; }
echo "build: ${SECONDS}s"
[[ $TESTS == 1 ]] && for t in int8_rows_cuda_test umt5_cuda_test; do echo "== $t"; timeout 120 $B/$t >"$OUT/$t.log" 2>&1; echo "exit $?"; tail -24 "$OUT/$t.log"; done
wait $GEN; tail -3 "$OUT/make-umt5.log" 2>/dev/null
echo "== umt5_bench"
timeout 200 $B/umt5_bench $WT $ITERS 2>&1 | tee "$OUT/umt5-bench.json"
echo "== parity at the real shape (random weights)"
for a in "$WT1 25" "$WT1 512" "$WT 25"; do timeout 150 $B/umt5_bench --parity $a 2>&1 | tee -a "$OUT/umt5-parity.json"; done
