#!/bin/sh
# Container health: healthy while $TURBOWAN_DATA_DIR/worker.heartbeat was touched within
# TURBOWAN_HEALTH_MAX_AGE_S seconds (default 120, four worker heartbeat intervals).
# Contract with the worker: touch that file at least every 30 s while the consumer loop is alive
# (each poll and each lease heartbeat). Without the file (a worker that does not write it, or the
# first seconds after start) the container is judged by its liveness alone and reported healthy.
file="${TURBOWAN_DATA_DIR:-/data}/worker.heartbeat"
max_age="${TURBOWAN_HEALTH_MAX_AGE_S:-120}"

[ -e "$file" ] || exit 0
age=$(( $(date +%s) - $(stat -c %Y "$file") ))
if [ "$age" -gt "$max_age" ]; then
  echo "worker heartbeat is ${age}s old (limit ${max_age}s): the consumer loop is stuck"
  exit 1
fi
exit 0
