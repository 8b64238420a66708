#!/bin/sh
# turbowan container entrypoint.
#   worker (default): make the models in TURBOWAN_MODELS available under TURBOWAN_MODELS_DIR, then
#                     exec `turbowan worker`:
#                       1. a model baked into the image (TURBOWAN_BAKED_MODELS_DIR/<model>) is linked in;
#                       2. `turbowan fetch-weights` downloads the rest from TURBOWAN_WEIGHTS_FROM
#                          (hf, https mirror or s3://bucket/prefix) with resume and sha256 checks;
#                          files already verified in the cache volume are skipped.
#                     While it downloads, the heartbeat file stays fresh so the health check passes.
#   anything else:    passed to `turbowan` as is (serve, generate, jobs, fetch-weights, ...).
# TURBOWAN_SKIP_FETCH=1 skips step 2 (weights mounted read-only, or fetched by other means).
set -eu

command="${1:-worker}"
[ "$#" -gt 0 ] && shift

if [ "$command" = "worker" ]; then
  data_dir="${TURBOWAN_DATA_DIR:-/data}"
  models_dir="${TURBOWAN_MODELS_DIR:-/models}"
  baked_dir="${TURBOWAN_BAKED_MODELS_DIR:-/opt/turbowan/models}"
  heartbeat="$data_dir/worker.heartbeat"
  mkdir -p "$data_dir" "$models_dir"

  to_fetch=""
  for model in $(echo "${TURBOWAN_MODELS:-}" | tr ',' ' '); do
    if [ -f "$baked_dir/$model/SHA256SUMS" ]; then
      [ -e "$models_dir/$model" ] || ln -s "$baked_dir/$model" "$models_dir/$model"
      echo "entrypoint: $model: using the checkpoints baked into the image"
    else
      to_fetch="$to_fetch $model"
    fi
  done

  if [ "${TURBOWAN_SKIP_FETCH:-0}" != "1" ] && [ -n "$to_fetch" ]; then
    # Detached from stdout/stderr so its last `sleep` holds no pipe open after it is killed.
    (while :; do touch "$heartbeat"; sleep 20; done) >/dev/null 2>&1 &
    beat=$!
    status=0
    # shellcheck disable=SC2086 # word splitting of the model list is intended
    turbowan fetch-weights --models-dir "$models_dir" ${TURBOWAN_WEIGHTS_QUANT:+--quant} $to_fetch || status=$?
    kill "$beat" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
      echo "entrypoint: fetching weights failed (exit $status); not starting the worker" >&2
      exit "$status"
    fi
  fi
  # The worker writes its own heartbeat from here on; an old file from the download must not
  # make the fresh worker look stale.
  rm -f "$heartbeat"
fi

exec turbowan "$command" "$@"
