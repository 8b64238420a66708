#!/usr/bin/env bash
# Builds a small static ffmpeg + ffprobe (x86-64, libx264, the muxers/filters functions/media uses)
# for the GPU test machine, which has no ffmpeg and no package registry. Run on the normal (Debian)
# machine; needs apt (for the ffmpeg source and libx264's static library). Output: $1 (default
# .device/ffmpeg-static/{ffmpeg,ffprobe}), ~7 MB each. No NVENC: the H100/H200 have no video encoder.
set -euo pipefail
out=$(realpath -m "${1:-.device/ffmpeg-static}")
[[ -x $out/ffmpeg && -x $out/ffprobe ]] && { echo "already built: $out"; exit 0; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
apt-get install -y -q libx264-dev nasm zlib1g-dev >/dev/null
if ! apt-get source --help >/dev/null 2>&1 || ! grep -rqs "deb-src" /etc/apt/sources.list /etc/apt/sources.list.d; then
  printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    > /etc/apt/sources.list.d/turbowan-src.sources
  apt-get update -q >/dev/null
fi
(cd "$work" && apt-get source --download-only ffmpeg >/dev/null 2>&1 && tar xf ffmpeg_*.orig.tar.xz)
cd "$work"/ffmpeg-*/
./configure --prefix="$work/inst" --disable-everything --disable-network --disable-autodetect --disable-doc --disable-ffplay \
  --enable-gpl --enable-libx264 --enable-static --disable-shared --pkg-config-flags=--static --extra-ldflags=-static \
  --extra-libs="-lpthread -lm -ldl" \
  --enable-encoder=libx264,png,mjpeg,gif,rawvideo --enable-decoder=rawvideo,h264,png,mjpeg,gif \
  --enable-muxer=mp4,mov,gif,image2,rawvideo,null --enable-demuxer=rawvideo,mov,image2,gif,h264 \
  --enable-protocol=file,pipe --enable-parser=h264,png,mjpeg \
  --enable-filter=pad,scale,format,fps,split,palettegen,paletteuse,null,select,trim,setpts,copy \
  --enable-swscale --enable-zlib >/dev/null
make -j"$(nproc)" >/dev/null
mkdir -p "$out" && cp ffmpeg ffprobe "$out/"
"$out/ffmpeg" -hide_banner -encoders 2>/dev/null | grep -q libx264
echo "built $out/ffmpeg and ffprobe"
