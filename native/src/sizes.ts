// Output sizes of TurboDiffusion's VIDEO_RES_SIZE_INFO (width × height; facts/wan-models.md §6)
// and the I2V adaptive resolution (same area, the image's aspect, rounded to multiples of 16).
import type { AspectRatio, Resolution } from "./types.js";

export const VIDEO_SIZES: Record<Resolution, Record<AspectRatio, [number, number]>> = {
  "480p": { "1:1": [640, 640], "4:3": [640, 480], "3:4": [480, 640], "16:9": [832, 480], "9:16": [480, 832] },
  "720p": { "1:1": [960, 960], "4:3": [960, 720], "3:4": [720, 960], "16:9": [1280, 720], "9:16": [720, 1280] },
};

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function adaptiveSize(resolution: Resolution, aspect: AspectRatio, imgWidth: number, imgHeight: number): [number, number] {
  const [w0, h0] = VIDEO_SIZES[resolution][aspect];
  const area = w0 * h0;
  const r = imgHeight / imgWidth;
  return [roundHalfEven(Math.sqrt(area / r) / 16) * 16, roundHalfEven(Math.sqrt(area * r) / 16) * 16];
}

/** Tiny sizes for the demo model, which decodes at a small fraction of the real resolutions. */
export const DEMO_SCALE = 8;
