#!/usr/bin/env bash
# One GPU-machine call: whole-job latency on one GPU (umT5 → DiT → VAE → RGB8) with random weights
# at the real shapes, plus the engine's GPU tests. Needs .ref/wan_vae.py (official VAE module,
# git-ignored) carried for the random VAE weights. Usage (repo root): scripts/gpu/run_e2e.sh
set -uo pipefail
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
B=build-dit
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake-e2e.log" 2>&1 \
  || { tail -30 "$OUT/cmake-e2e.log"; exit 1; }
ninja -C $B -k 0 e2e_bench wan_dit_cuda_test umt5_cuda_test wan_vae_cuda_test >"$OUT/build-e2e.log" 2>&1 || { grep -E "error" -A3 "$OUT/build-e2e.log" | head -40; echo "BUILD FAILED"; }
for t in wan_dit_cuda_test umt5_cuda_test wan_vae_cuda_test; do echo "== $t"; timeout 120 $B/$t 2>&1 | tail -8; done
python3 bench/native/dit_torch_baseline.py --model 1.3b --weights /tmp/dit.safetensors --skip-torch >/dev/null
python3 bench/native/vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights /tmp/vae.pth --skip-torch >/dev/null
python3 bench/native/make_umt5_random.py /tmp/umt5.pth
timeout 400 $B/e2e_bench /tmp/dit.safetensors /tmp/umt5.pth /tmp/vae.pth 832 480 81 | tee "$OUT/e2e-1.3b-480p.json"
