#!/usr/bin/env bash
# One GPU-machine call for the VAE / umT5 GPU work: build native/ with CUDA (sm_90a), run the op and
# model GPU tests, then the VAE decode benchmark against the same-run official PyTorch decode.
# Needs the official wan/modules/vae.py at .ref/wan_vae.py (git-ignored; carry `.ref`).
# Usage (repo root): scripts/gpu/run_vae.sh [tests|conv|bench|all|layout] [T H W]
#   layout: the channels-last hand-off check (bench/results/2026-11-26-h100-vae-layout.md): the GPU tests,
#   parity, PyTorch, then the decode alternating the default and the old layout (TW_VAE_LAYOUT=cf
#   TW_VAE_TRIM=0) in the same binary, and the per-op profile of both. MAIN_TREE=<path to another checkout>
#   also builds that tree's vae_bench and runs it in the same loop (the baseline before this work).
#   conv: the conv op alone on the decoder's main shapes, every kernel variant (wgmma default, its
#   TW_CONV_WG tile variants, the mma.sync kernel via TW_CONV_KERNEL=mma).
#   bench: the decode (ours wgmma / ours mma.sync / PyTorch), parity, the conv table vs cuDNN, the
#   per-op profile of one decode (TW_VAE_PROFILE=1); NCU=1 adds an Nsight Compute summary.
set -uo pipefail
MODE=${1:-all}; T=${2:-21}; H=${3:-60}; W=${4:-104}
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
B=${B:-/tmp/b-vae}
TESTS=${TESTS:-"conv_cuda_test wan_vae_cuda_test wan_vae_rgb8_cuda_test umt5_cuda_test"}
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release >"$OUT/cmake-vae.log" 2>&1 \
  || { tail -30 "$OUT/cmake-vae.log"; exit 1; }
time ninja -C $B -k 0 $TESTS vae_bench >"$OUT/build-vae.log" 2>&1 || { grep -E "error" -A3 "$OUT/build-vae.log" | head -60; echo "BUILD FAILED"; }
if [[ $MODE == layout ]]; then
  # most important first: a short lease keeps what came back so far under $OUT
  if [[ -n ${MAIN_TREE:-} ]]; then  # built while the op test runs; joined before anything is timed
    ( cmake -S $MAIN_TREE/native -B $B-main -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DTW_BUILD_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
        >"$OUT/cmake-main.log" 2>&1 && ninja -C $B-main vae_bench >"$OUT/build-main.log" 2>&1 || echo "main build FAILED" ) &
  fi
  echo "== conv_cuda_test"; timeout 150 $B/conv_cuda_test >"$OUT/conv_cuda_test.log" 2>&1; echo "rc $?"
  grep -E "padded|upsampled|over [1-9]|FAIL|kernel:" "$OUT/conv_cuda_test.log" | head -20; tail -1 "$OUT/conv_cuda_test.log"
  grep -q "conv_cuda_test: ok" "$OUT/conv_cuda_test.log" || { echo "conv_cuda_test FAILED: skipping the benchmarks"; tail -30 "$OUT/conv_cuda_test.log"; exit 1; }
  wait
  WT=/tmp/vae-bench.pth
  PYTHONUNBUFFERED=1 timeout 100 python3 bench/native/vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights $WT --T $T --H $H --W $W --iters 2 2>&1 | tee "$OUT/vae-torch.json" | tail -1
  OLD="TW_VAE_LAYOUT=cf TW_VAE_TRIM=0"
  for i in 1 2; do
    timeout 60 $B/vae_bench $WT $T $H $W 3 2>&1 | tee -a "$OUT/vae-ours.json"
    env $OLD timeout 60 $B/vae_bench $WT $T $H $W 3 2>&1 | sed 's/"turbowan"/"turbowan old layout"/' | tee -a "$OUT/vae-ours.json"
    [[ -x $B-main/vae_bench ]] && timeout 60 $B-main/vae_bench $WT $T $H $W 3 2>&1 | sed 's/"turbowan"/"turbowan main"/' | tee -a "$OUT/vae-ours.json"
  done
  timeout 60 $B/vae_bench --parity $WT 2>&1 | tee "$OUT/vae-parity.json"
  for t in wan_vae_cuda_test wan_vae_rgb8_cuda_test; do echo "== $t"; timeout 100 $B/$t >"$OUT/$t.log" 2>&1; echo "rc $?"; grep -iE "rel|FAIL|ok$" "$OUT/$t.log" | tail -6; done
  TW_VAE_TRIM=0 timeout 60 $B/vae_bench $WT $T $H $W 3 2>&1 | sed 's/"turbowan"/"turbowan no trim"/' | tee -a "$OUT/vae-ours.json"
  [[ -n ${QUICK:-} ]] && exit 0
  TW_VAE_PROFILE=1 timeout 60 $B/vae_bench $WT $T $H $W 1 >/dev/null 2>"$OUT/vae-profile.txt"
  echo "== profile (new)"; awk '/vae profile/{n++} {if (n==3) print}' "$OUT/vae-profile.txt" | head -26
  env $OLD TW_VAE_PROFILE=1 timeout 60 $B/vae_bench $WT $T $H $W 1 >/dev/null 2>"$OUT/vae-profile-old.txt"
  echo "== profile (old)"; awk '/vae profile/{n++} {if (n==3) print}' "$OUT/vae-profile-old.txt" | head -26
  echo "== conv_cuda_test (TW_CONV_KERNEL=mma)"; TW_CONV_KERNEL=mma timeout 100 $B/conv_cuda_test >"$OUT/conv_cuda_test-mma.log" 2>&1; tail -1 "$OUT/conv_cuda_test-mma.log"
  exit 0
fi
if [[ $MODE == tests || $MODE == all ]]; then
  for t in $TESTS; do echo "== $t"; timeout 150 $B/$t >"$OUT/$t.log" 2>&1; echo "rc $?"; tail -48 "$OUT/$t.log"; done
  # a broken default conv kernel makes every number below meaningless: stop here
  grep -q "conv_cuda_test: ok" "$OUT/conv_cuda_test.log" || { echo "conv_cuda_test FAILED: skipping the benchmarks"; exit 1; }
  for v in ${TEST_VARIANTS:-TW_CONV_KERNEL=mma TW_CONV_WG=ks1 TW_CONV_WG=ks2 TW_CONV_WG=m2ks2 TW_CONV_WG=m3 TW_CONV_WG=m4 TW_CONV_NARROW=0}; do
    echo "== conv_cuda_test ($v)"; env $v timeout 150 $B/conv_cuda_test 2>&1 | tee "$OUT/conv_cuda_test-$v.log" | grep -E "kernel:|FAIL|ok$|failed|beyond" | tail -6
  done
fi
SHAPES="96,96,4,480,832;192,192,4,240,416;384,384,2,120,208;384,384,4,60,104;96,3,4,480,832"
if [[ $MODE == conv || $MODE == bench || $MODE == all ]]; then
  for s in ${SHAPES//;/ }; do
    timeout 60 $B/vae_bench --conv ${s//,/ } 10 2>&1 | tee -a "$OUT/vae-conv-ours.json"
    VARS="${CONV_VARIANTS:-TW_CONV_WG=ks1 TW_CONV_WG=ks2 TW_CONV_WG=m2ks2 TW_CONV_WG=m3 TW_CONV_WG=m4 TW_CONV_KERNEL=mma}"
    [[ $s == 96,3,* ]] && VARS="TW_CONV_NARROW=0"
    for v in $VARS; do
      env $v timeout 60 $B/vae_bench --conv ${s//,/ } 10 2>&1 | tee -a "$OUT/vae-conv-ours.json"
    done
  done
  # the wgmma tile variant with the least summed time over the shapes (decoded below when not the default)
  WG=${WG:-$(python3 - "$OUT/vae-conv-ours.json" <<'PY'
import collections, json, sys
t = collections.defaultdict(float)
for l in open(sys.argv[1]):
    if l.startswith("{") and "wgmma" in l: r = json.loads(l); t[r["impl"]] += r["ms"]
best = min((v, k) for k, v in t.items())[1] if t else ""
print(best.split("wgmma")[-1].strip())
PY
)}
  echo "fastest wgmma variant: ${WG:-default}"
fi
if [[ $MODE == bench || $MODE == all ]]; then
  WT=/tmp/vae-bench.pth
  PYTHONUNBUFFERED=1 timeout 240 python3 bench/native/vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights $WT --T $T --H $H --W $W \
    --conv-shapes "$SHAPES" ${FIXTURE:+--fixture test/fixtures/vae} 2>&1 | tee "$OUT/vae-torch.json"
  timeout 200 $B/vae_bench $WT $T $H $W 3 2>&1 | tee "$OUT/vae-ours.json"
  [[ -n ${WG:-} ]] && TW_CONV_WG=$WG timeout 200 $B/vae_bench $WT $T $H $W 3 2>&1 | sed "s/\"turbowan\"/\"turbowan wgmma $WG\"/" | tee -a "$OUT/vae-ours.json"
  TW_CONV_KERNEL=mma timeout 200 $B/vae_bench $WT $T $H $W 3 2>&1 | sed 's/"turbowan"/"turbowan mma.sync"/' | tee "$OUT/vae-ours-mma.json"
  timeout 100 $B/vae_bench --parity $WT 2>&1 | tee "$OUT/vae-parity.json"
  TW_VAE_PROFILE=1 timeout 100 $B/vae_bench $WT $T $H $W 1 >/dev/null 2>"$OUT/vae-profile.txt"
  # the last decode's profile (host-f32 run), top rows
  awk '/vae profile/{n++} {if (n==3) print}' "$OUT/vae-profile.txt" | head -24
  if [[ -n ${NCU:-} ]] && command -v ncu >/dev/null; then
    for s in "96 96 4 480 832" "192 192 4 240 416"; do
      timeout 120 ncu --kernel-name regex:"conv_wgmma|conv_gemm" --launch-skip 1 --launch-count 1 --section SpeedOfLight \
        --section WarpStateStats --section Occupancy --section MemoryWorkloadAnalysis $B/vae_bench --conv $s 2 >"$OUT/ncu-conv-${s// /_}.txt" 2>&1
      echo "== ncu $s"; grep -E "Throughput|Duration|Stall|Achieved Occupancy|Registers|L1/TEX Hit|L2 Hit|Issue Slots|Warp Cycles|Bandwidth" "$OUT/ncu-conv-${s// /_}.txt" | head -30
    done
  fi
  python3 - "$OUT/vae-torch.json" "$OUT/vae-ours.json" "$OUT/vae-conv-ours.json" "$OUT/vae-ours-mma.json" <<'PY'
import json, sys
def last(p):
    for line in reversed(open(p).read().splitlines()):
        if line.startswith("{") and "ms_median" in line: return json.loads(line)
    return {}
def first_impl(p, impl):
    for line in open(p).read().splitlines():
        if line.startswith("{") and f'"impl": "{impl}"' in line: return json.loads(line)
    return {}
t, o = last(sys.argv[1]), first_impl(sys.argv[2], "turbowan")
flops = 2.6e14
print("| impl | ms median | ms min | achieved TFLOP/s (2.6e14) | peak/held MB |")
print("|---|---|---|---|---|")
if t.get("ms_median"): print(f"| PyTorch official bf16 | {t['ms_median']} | {t['ms_min']} | {flops/t['ms_median']/1e9:.0f} | {t['peak_mb']} |")
if o.get("ms_median"): print(f"| turbowan WanVaeCuda | {o['ms_median']} | {o['ms_min']} | {flops/o['ms_median']/1e9:.0f} | {o['device_used_mb']} (pool {o['activation_pool_mb']}) |")
if o.get("ms_with_host_f32"): print(f"| turbowan + host f32 frames | {o['ms_with_host_f32']} | | | |")
o3 = last(sys.argv[4])
if o3.get("ms_median"): print(f"| turbowan WanVaeCuda (TW_CONV_KERNEL=mma: the mma.sync conv) | {o3['ms_median']} | {o3['ms_min']} | {flops/o3['ms_median']/1e9:.0f} | {o3['device_used_mb']} |")
for l in open(sys.argv[2]).read().splitlines():
    if l.startswith("{") and "wgmma" in l:
        r = json.loads(l); print(f"| {r['impl']} | {r['ms_median']} | {r['ms_min']} | {flops/r['ms_median']/1e9:.0f} | {r['device_used_mb']} |")
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f).read().splitlines() if l.startswith("{") and "tflops" in l]
print("| conv 3x3x3 (Cin,Cout,T,HxW) | impl | ms | TFLOP/s |")
print("|---|---|---|---|")
for r in rows:
    print(f"| {r['Cin']},{r['Cout']},{r['T']},{r['H']}x{r['W']} | {r['impl']}{' bench' if r.get('cudnn_benchmark') else ''} | {r['ms']} | {r['tflops']} |")
for l in open(sys.argv[1]).read().splitlines():
    if "fixture" in l: print(l)
import os
pp = os.path.join(os.path.dirname(sys.argv[1]), "vae-parity.json")
if os.path.exists(pp): print(open(pp).read().strip())
PY
fi
