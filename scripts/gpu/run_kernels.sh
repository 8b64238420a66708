#!/usr/bin/env bash
# One GPU-machine call: build tw_kernels + CUDA tests/benches (sm_90a), run every *_cuda_test, then
# the C++ bench and the PyTorch baselines, and print the joined table last. Results go to $OUT.
# Usage (repo root): scripts/gpu/run_kernels.sh [tests|bench|all] [bench-filter: all|attention|sla|linear|elementwise]
set -uo pipefail
MODE=${1:-all}
FILTER=${2:-all}
OUT=${OUT:-/tmp/tw-gpu-out}
mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
B=build-gpu
cmake -S scripts/gpu/kernels_only -B $B -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 \
  || { tail -40 "$OUT/cmake.log"; exit 1; }
if ! ninja -C $B -k 0 >"$OUT/build.log" 2>&1; then
  grep -E "error|Error" -A3 "$OUT/build.log" | head -60
  echo "BUILD FAILED (some targets may still run)"
fi
FAILED=()
if [[ $MODE == tests || $MODE == all ]]; then
  for t in $B/*${TESTS:-}*_cuda_test; do
    [[ -x $t ]] || continue
    echo "== $(basename $t)"
    if ! timeout 240 "$t" 2>&1 | tee -a "$OUT/tests.log"; then FAILED+=("$(basename $t)"); fi
  done
  if [[ ${VARIANTS:-0} == 1 ]]; then
    echo "== sparse_linear_attention_cuda_test with TW_SAGESLA_KERNEL=mma"
    if ! TW_SAGESLA_KERNEL=mma timeout 240 $B/sparse_linear_attention_cuda_test 2>&1 | tee -a "$OUT/tests.log"; then
      FAILED+=("sparse_linear_attention_cuda_test@mma")
    fi
  fi
fi
if [[ $MODE == bench || $MODE == all ]]; then
  [[ -x $B/cuda_ops_bench ]] && timeout 300 $B/cuda_ops_bench "$FILTER" 2>&1 | tee "$OUT/ours.txt"
  if [[ ${VARIANTS:-0} == 1 ]]; then  # the SageSLA mma.sync kernel
    TW_SAGESLA_KERNEL=mma timeout 300 $B/cuda_ops_bench sla 2>&1 | tee -a "$OUT/ours.txt"
  fi
  PYTHONUNBUFFERED=1 timeout 240 python3 scripts/gpu/sdpa_bench.py "$FILTER" 2>&1 | tee "$OUT/base.txt"
  if [[ $FILTER == all || $FILTER == dit ]]; then  # one DiT block: our ops in sequence vs PyTorch
    [[ -x $B/dit_block_bench ]] && timeout 200 $B/dit_block_bench 2>&1 | tee -a "$OUT/ours.txt"
    PYTHONUNBUFFERED=1 timeout 200 python3 scripts/gpu/dit_block_torch.py 2>&1 | tee -a "$OUT/base.txt"
  fi
  python3 scripts/gpu/report.py "$OUT/ours.txt" "$OUT/base.txt" | tee "$OUT/table.md"
fi
echo "failed tests: ${FAILED[*]:-none}"
