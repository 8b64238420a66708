#!/usr/bin/env bash
# One GPU-machine call: the real worker consuming real jobs on the GPU, request in → mp4 bytes out.
# Builds the engine + N-API addon with CUDA (plain CMake: the machine has no npm), writes random-weight
# checkpoints at the real shapes in the layout `turbowan fetch-weights` produces, then runs
# bench/e2e/job-latency (bundled by scripts/gpu/pack-worker.sh) through the local stack: HTTP POST →
# SQLite queue → worker (umT5 → DiT → VAE on the GPU, ffmpeg libx264, local store) → HTTP download,
# and checks each mp4 with ffprobe. Carry `.device/worker.tar.xz` and `.ref` (official wan_vae.py).
# TESTS="target ..." also builds and runs those C++ GPU tests (same build tree) after the 1.3B jobs.
# $OUT gets at most 7 files (the device tool returns 8): device.txt, latency-*.jsonl, stack-*.log, tests.log.
# Usage (repo root): scripts/gpu/run_worker_e2e.sh [1.3b|14b|both] [jobs]
set -uo pipefail
WHICH=${1:-1.3b}; JOBS=${2:-4}
OUT=${OUT:-/tmp/tw-gpu-out}; mkdir -p "$OUT"; LOGS=/tmp/tw-e2e-logs; mkdir -p $LOGS
export PATH=/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/device.txt"
P=/tmp/twp; rm -rf $P; mkdir -p $P && tar xJf .device/worker.tar.xz -C $P || { echo "run scripts/gpu/pack-worker.sh and carry .device/worker.tar.xz"; exit 1; }
export PATH=$P/bin:$PATH FFPROBE=$P/bin/ffprobe
node --version; ffmpeg -hide_banner -version | head -1
B=/tmp/b-addon; BT=OFF; [[ -n ${TESTS:-} ]] && BT=ON
t0=$(date +%s)
cmake -S native -B $B -G Ninja -DTW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_BUILD_TYPE=Release -DTW_BUILD_TESTS=$BT \
  -DCMAKE_JS_VERSION=plain-cmake -DCMAKE_JS_INC=$P/w/node_modules/node-api-headers/include \
  -DNODE_ADDON_API_DIR=$P/w/node_modules/node-addon-api >"$LOGS/cmake-addon.log" 2>&1 || { tail -30 "$LOGS/cmake-addon.log"; exit 1; }
ninja -C $B turbowan_addon >"$LOGS/build-addon.log" 2>&1 || { grep -E "error" -A3 "$LOGS/build-addon.log" | head -40; echo "BUILD FAILED"; exit 1; }
export TURBOWAN_ADDON=$(find $B -name turbowan.node | head -1)
echo "addon built in $(( $(date +%s) - t0 )) s: $TURBOWAN_ADDON"
node -e "const a=require(process.env.TURBOWAN_ADDON); console.log(JSON.stringify(a.backendInfo()))"

weights() {  # $1 = model name, $2 = dit size, $3 = resolution for the DiT writer
  local d=/tmp/models/$1; mkdir -p $d
  python3 bench/native/dit_torch_baseline.py --model $2 --res $3 --weights $d/dit.pth --skip-torch >/dev/null
  [[ -f /tmp/vae.pth ]] || python3 bench/native/vae_torch_baseline.py --vae-py .ref/wan_vae.py --weights /tmp/vae.pth --skip-torch >/dev/null
  [[ -f /tmp/umt5.pth ]] || python3 bench/native/make_umt5_random.py /tmp/umt5.pth >/dev/null
  ln -sf /tmp/vae.pth $d/vae.pth; ln -sf /tmp/umt5.pth $d/umt5.pth
  cp test/fixtures/tokenizer/tokenizer.json $d/tokenizer.json   # a trained unigram tokenizer: ids fit any vocab
  sync; du -shL $d
}
run() {  # $1 model, $2 resolution, $3 jobs
  echo "== $1 $2: $3 jobs (the first includes the model load)"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > "$LOGS/gpu-mem-$1.txt" & local smi=$!
  TURBOWAN_BACKEND=cuda timeout 500 node $P/w/bench/e2e/job-latency.mjs --model $1 --models-dir /tmp/models --resolution $2 \
    --frames 81 --steps 4 --jobs $3 --backend cuda --log "$OUT/stack-$1-$2.log" 2>&1 | tee "$OUT/latency-$1-$2.jsonl"
  kill $smi 2>/dev/null
  echo "peak GPU memory in use (nvidia-smi, whole device): $(sort -n "$LOGS/gpu-mem-$1.txt" | tail -1) MiB"
  grep -h '"error"' "$OUT/stack-$1-$2.log" | head -3 | cut -c1-400
}
if [[ $WHICH == 1.3b || $WHICH == both ]]; then weights wan2.1-t2v-1.3b 1.3b 480p; run wan2.1-t2v-1.3b 480p $JOBS; fi
if [[ -n ${TESTS:-} ]]; then
  echo "== GPU tests: $TESTS"
  ninja -C $B -k 0 $TESTS >"$LOGS/build-tests.log" 2>&1 || { grep -E "error" -A3 "$LOGS/build-tests.log" | head -30; echo "TEST BUILD FAILED"; }
  for t in $TESTS; do echo "== $t" >> "$OUT/tests.log"; timeout 150 $B/$t >> "$OUT/tests.log" 2>&1; echo "$t rc=$?" | tee -a "$OUT/tests.log"; done
  grep -E "FAIL|failed|differ|rel L2|skipped" "$OUT/tests.log" | head -30
fi
if [[ $WHICH == 14b || $WHICH == both ]]; then rm -rf /tmp/models/wan2.1-t2v-1.3b; weights wan2.1-t2v-14b 14b 720p; run wan2.1-t2v-14b 720p 2; fi
nvidia-smi --query-gpu=memory.used --format=csv,noheader
