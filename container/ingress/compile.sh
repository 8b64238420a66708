#!/bin/sh
# Compiles the TypeScript the ingress runs into plain JavaScript under $1, keeping the folder
# layout (imports already end in .js), and copies the data files read at run time (web console
# assets, demo tokenizer). Lambda then starts on node alone: about 0.3 s to a ready handler instead
# of about 1 s through tsx, out of Discord's 3 s answer window. Run from the repository root.
set -eu
out="${1:?usage: container/ingress/compile.sh <out-dir>}"
# shellcheck disable=SC2046 # one argument per source file
node_modules/.bin/esbuild $(find functions bot native/src -name '*.ts' ! -name '*.d.ts') \
  --outdir="$out" --outbase=. --format=esm --platform=node --target=node22 --log-level=warning
find functions bot native/src -type f ! -name '*.ts' | while read -r file; do
  mkdir -p "$out/$(dirname "$file")"
  cp "$file" "$out/$file"
done
