#!/usr/bin/env bash
# One GPU-machine call for issue 7 items 4–5 (docs/engine.md, Memory): build, the uploader and
# expert-residency GPU tests, cold start of the 1.3B-480p pipeline (staged vs the old synchronous
# upload, page cache warm and evicted), and the two-expert 14B residency bench (resident vs parked,
# random weights in memory). Random 1.3B/umT5/VAE files are written while the build runs. Needs
# .ref/wan_vae.py (official VAE module, git-ignored) carried. Usage (repo root): scripts/gpu/run_memory.sh [e2e|experts|all]
set -uo pipefail
WHAT=${1:-all}
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
ts() { echo "[$(date +%T)] $*"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
{ df -h /tmp; stat -f -c 'fs type %T' /tmp; free -g; nproc; } > "$OUT/machine.txt" 2>&1
rm -f /tmp/weights.done  # a warm machine may keep it from an earlier call
[[ $WHAT == experts ]] || ( python3 bench/native/dit_torch_baseline.py --model 1.3b --weights /tmp/dit.safetensors --skip-torch >/dev/null 2>&1
  python3 bench/native/vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights /tmp/vae.pth --skip-torch >/dev/null 2>&1
  python3 bench/native/make_umt5_random.py /tmp/umt5.pth >/dev/null 2>&1; echo done > /tmp/weights.done ) &
B=/tmp/b-park
ts build
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake.log" 2>&1 \
  || { tail -30 "$OUT/cmake.log"; exit 1; }
ninja -C $B -k 0 staged_upload_test dit_experts_cuda_test wan_dit_cuda_test umt5_cuda_test e2e_bench experts_bench >"$OUT/build.log" 2>&1 \
  || { grep -E "error" -A3 "$OUT/build.log" | head -40; echo "BUILD FAILED"; }
ts tests
for t in staged_upload_test dit_experts_cuda_test wan_dit_cuda_test umt5_cuda_test; do
  echo "== $t"; timeout 120 $B/$t > "$OUT/$t.log" 2>&1; echo "rc=$?"; tail -12 "$OUT/$t.log"
done
if [[ $WHAT == e2e || $WHAT == all ]]; then
  ts "waiting for weights"; while [ ! -f /tmp/weights.done ]; do sleep 2; done; ls -la /tmp/*.pth /tmp/*.safetensors
  E="$B/e2e_bench /tmp/dit.safetensors /tmp/umt5.pth /tmp/vae.pth 832 480 81"
  ts e2e; timeout 120 $E --jobs 1 | tee "$OUT/e2e.jsonl"
  TW_UPLOAD=sync timeout 120 $E --jobs 0 | tee -a "$OUT/e2e.jsonl"
  (sync; echo 3 > /proc/sys/vm/drop_caches) 2>/dev/null && echo "drop_caches: ok" || echo "drop_caches: refused (using fadvise only)"
  timeout 120 $E --jobs 0 --evict --probe | tee -a "$OUT/e2e.jsonl"
  TW_UPLOAD=sync timeout 150 $E --jobs 0 --evict | tee -a "$OUT/e2e.jsonl"
  timeout 120 $E --jobs 0 --evict | tee -a "$OUT/e2e.jsonl"
fi
if [[ $WHAT == experts || $WHAT == all ]]; then
  ts experts; timeout 300 $B/experts_bench 832 480 81 sagesla 2>&1 | tee "$OUT/experts.jsonl"
fi
ts end
