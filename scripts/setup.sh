#!/usr/bin/env bash
# Installs everything turbowan needs on a fresh Debian/Ubuntu machine: system packages (cmake, g++,
# ffmpeg, chromium for the browser tests), then the npm dependencies, which build the native addon.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || need+=(chromium)
if ((${#need[@]})); then
  echo "turbowan setup: installing system packages: ${need[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ -f package-lock.json ]; then npm ci; else npm install; fi
