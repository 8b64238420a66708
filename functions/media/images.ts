// Stills and previews for places that cannot embed an mp4 (GitHub comments without the upload
// endpoint, link unfurls, the console's queue list).
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { frameList } from "./encode.js";
import type { Frames } from "./encode.js";
import { listEncoders, runFfmpeg } from "./ffmpeg.js";

export interface PosterOptions {
  format?: "jpeg" | "png";
  /** Which frame; default the middle one (the first is often the least interesting). */
  index?: number;
}

/** A still of one frame, encoded with sharp. */
export async function makePoster(
  frames: Frames,
  width: number,
  height: number,
  options: PosterOptions = {},
): Promise<{ data: Buffer; contentType: string; extension: "jpg" | "png" }> {
  const list = frameList(frames, width, height);
  const frame = list[options.index ?? Math.floor(list.length / 2)];
  if (!frame) throw new Error(`There is no frame ${options.index}; the video has ${list.length}.`);
  const image = sharp(frame, { raw: { width, height, channels: 3 } });
  if (options.format === "png") return { data: await image.png().toBuffer(), contentType: "image/png", extension: "png" };
  return { data: await image.jpeg({ quality: 85, mozjpeg: true }).toBuffer(), contentType: "image/jpeg", extension: "jpg" };
}

export interface PreviewOptions {
  /** Longest side in pixels. Default 320. */
  maxSide?: number;
  /** Frame rate of the preview. Default 8 (half of the video's 16: half the bytes, still smooth enough). */
  fps?: number;
  /** "auto": WebP when ffmpeg has libwebp_anim (smaller, full colour), GIF otherwise. */
  format?: "auto" | "webp" | "gif";
  outFile?: string;
  ffmpeg?: string;
  /** Kills ffmpeg (cancel, worker shutdown). */
  signal?: AbortSignal;
}

/** Raw RGB8 frames as the preview's source: no wait for the mp4, and no second lossy step. */
export interface RawFrames {
  frames: Frames;
  width: number;
  height: number;
  fps: number;
}

/** A small looping animation made from the encoded mp4 (a path) or from the frames themselves. */
export async function makePreview(
  source: string | RawFrames,
  options: PreviewOptions = {},
): Promise<{ file: string; contentType: string; extension: "webp" | "gif" }> {
  const ffmpeg = options.ffmpeg ?? "ffmpeg";
  const side = options.maxSide ?? 320;
  const fps = options.fps ?? 8;
  let format = options.format ?? "auto";
  if (format === "auto") format = (await listEncoders(ffmpeg)).has("libwebp_anim") ? "webp" : "gif";
  const file = options.outFile ?? join(await mkdtemp(join(tmpdir(), "turbowan-preview-")), `preview.${format}`);
  const scale = `fps=${fps},scale='min(${side},iw)':'min(${side},ih)':force_original_aspect_ratio=decrease:flags=lanczos`;
  const args =
    format === "webp"
      ? ["-vf", scale, "-c:v", "libwebp_anim", "-loop", "0", "-quality", "60", "-compression_level", "4"]
      : // GIF: a palette made for this clip beats the generic 256 colours by far.
        ["-filter_complex", `${scale},split[a][b];[a]palettegen=max_colors=128[p];[b][p]paletteuse=dither=bayer`, "-loop", "0"];
  const input =
    typeof source === "string"
      ? ["-i", source]
      : ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${source.width}x${source.height}`, "-framerate", String(source.fps), "-i", "pipe:0"];
  const frames = typeof source === "string" ? undefined : frameList(source.frames, source.width, source.height);
  await runFfmpeg(ffmpeg, ["-hide_banner", "-loglevel", "error", "-y", ...input, "-an", ...args, file], frames, { signal: options.signal });
  return { file, contentType: format === "webp" ? "image/webp" : "image/gif", extension: format };
}
