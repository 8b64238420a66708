// Frames → H.264 mp4 for chat: yuv420p (plays everywhere), +faststart (the moov atom first, so a
// player starts before the download ends), 16 fps (Wan's rate), even dimensions (4:2:0 needs them).
// With maxBytes (Discord's 10 MiB, say) an encode that comes out too large is redone at a bitrate
// computed from the byte budget, at most twice; the result says what was done.
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listEncoders, nvidiaGpuPresent, runFfmpeg } from "./ffmpeg.js";

export type VideoEncoder = "libx264" | "h264_nvenc";

export interface EncodeOptions {
  /** Byte budget for the mp4. */
  maxBytes?: number;
  /** Where to write the mp4; default a new temporary file. */
  outFile?: string;
  /** "auto": h264_nvenc when ffmpeg lists it and an NVIDIA GPU is present, else libx264. */
  encoder?: "auto" | VideoEncoder;
  /** Constant-quality setting of the first encode (x264 CRF / NVENC CQ). Default 20. */
  quality?: number;
  /** ffmpeg command; default "ffmpeg" on PATH. */
  ffmpeg?: string;
  /** Kills ffmpeg (cancel, worker shutdown); the promise rejects with an AbortError once it is gone. */
  signal?: AbortSignal;
  /** A constant-quality encode of these frames made already (the streamed one) that came out over
   * maxBytes: it is reported as the first attempt and the bitrate re-encodes start at once. */
  priorAttempt?: EncodeAttempt;
}

export interface EncodeAttempt {
  /** "crf 20" or "1850 kb/s". */
  setting: string;
  bytes: number;
}

export interface EncodeResult {
  file: string;
  bytes: number;
  frames: number;
  width: number;
  height: number;
  fps: number;
  encoder: VideoEncoder;
  /** Every encode made, in order; more than one when the size target forced a re-encode. */
  attempts: EncodeAttempt[];
  /** false when maxBytes was given and even the last re-encode is larger (send a link instead). */
  fitsTarget: boolean;
  /** A sentence for logs: what was done and why. */
  summary: string;
}

/** Frames are RGB8, row-major [N, H, W, 3]: one buffer of all frames, or one buffer per frame. */
export type Frames = Uint8Array | readonly Uint8Array[];

export function frameList(frames: Frames, width: number, height: number): Uint8Array[] {
  const frameBytes = width * height * 3;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 2 || height < 2) {
    throw new Error(`Frame size ${width}×${height} is not valid: width and height must be whole numbers ≥ 2.`);
  }
  if (frames instanceof Uint8Array) {
    if (frames.byteLength === 0 || frames.byteLength % frameBytes !== 0) {
      throw new Error(
        `The frame buffer holds ${frames.byteLength} bytes, not a whole number of ${width}×${height} RGB frames ` +
          `(${frameBytes} bytes each).`,
      );
    }
    const out: Uint8Array[] = [];
    for (let o = 0; o < frames.byteLength; o += frameBytes) out.push(frames.subarray(o, o + frameBytes));
    return out;
  }
  if (frames.length === 0) throw new Error("There are no frames to encode.");
  frames.forEach((f, i) => {
    if (f.byteLength !== frameBytes) {
      throw new Error(`Frame ${i} has ${f.byteLength} bytes; a ${width}×${height} RGB frame has ${frameBytes}.`);
    }
  });
  return [...frames];
}

// Set after NVENC failed once in this process (e.g. a container without the driver's video
// capability), so later jobs go straight to libx264 instead of failing first each time.
let nvencBroken = false;

/**
 * "auto": h264_nvenc when ffmpeg lists it, an NVIDIA driver is present and a one-off NVENC test
 * encode works, else libx264. The test encode matters: data-centre GPUs such as the H100 and H200
 * have no NVENC unit at all, while distribution ffmpeg builds list h264_nvenc anyway.
 */
export async function chooseEncoder(requested: EncodeOptions["encoder"] = "auto", ffmpeg = "ffmpeg"): Promise<VideoEncoder> {
  if (requested !== "auto") return requested;
  if (nvencBroken) return "libx264";
  const encoders = await listEncoders(ffmpeg);
  if (!encoders.has("h264_nvenc") || !nvidiaGpuPresent()) return "libx264";
  return (await nvencWorks(ffmpeg)) ? "h264_nvenc" : "libx264";
}

const nvencProbes = new Map<string, Promise<boolean>>();
/** Whether this ffmpeg can open NVENC here: 2 black frames through h264_nvenc (≈0.1 s, once per
 * process and ffmpeg command). */
export function nvencWorks(ffmpeg = "ffmpeg"): Promise<boolean> {
  let probe = nvencProbes.get(ffmpeg);
  if (!probe) {
    const args = ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "color=black:s=256x144:r=16:d=0.125", "-c:v", "h264_nvenc", "-f", "null", "-"];
    probe = runFfmpeg(ffmpeg, args).then(
      () => true,
      () => false,
    );
    nvencProbes.set(ffmpeg, probe);
  }
  return probe;
}

export async function encodeMp4(
  frames: Frames,
  width: number,
  height: number,
  fps = 16,
  options: EncodeOptions = {},
): Promise<EncodeResult> {
  const list = frameList(frames, width, height);
  const ffmpeg = options.ffmpeg ?? "ffmpeg";
  const out = options.outFile ?? join(await mkdtemp(join(tmpdir(), "turbowan-mp4-")), "video.mp4");
  const quality = options.quality ?? 20;
  let encoder = await chooseEncoder(options.encoder, ffmpeg);
  const attempts: EncodeAttempt[] = [];
  const notes: string[] = [];

  const encode = async (rate: { quality: number } | { kbps: number }) => {
    const args = ffmpegArgs(encoder, width, height, fps, rate, out);
    try {
      await runFfmpeg(ffmpeg, args, list, { signal: options.signal });
    } catch (err) {
      // NVENC can be listed yet unusable (driver too old, all sessions busy): x264 always works.
      if (encoder !== "h264_nvenc" || options.encoder === "h264_nvenc" || options.signal?.aborted) throw err;
      notes.push(`h264_nvenc failed (${(err as Error).message.split("\n").pop()}), used libx264`);
      nvencBroken = true;
      encoder = "libx264";
      await runFfmpeg(ffmpeg, ffmpegArgs(encoder, width, height, fps, rate, out), list, { signal: options.signal });
    }
    const bytes = (await stat(out)).size;
    attempts.push({ setting: "quality" in rate ? `${encoder === "libx264" ? "crf" : "cq"} ${rate.quality}` : `${rate.kbps} kb/s`, bytes });
    return bytes;
  };

  const prior = options.priorAttempt;
  let bytes: number;
  if (prior && options.maxBytes !== undefined && prior.bytes > options.maxBytes) {
    attempts.push(prior);
    bytes = prior.bytes;
  } else {
    bytes = await encode({ quality });
  }
  const seconds = list.length / fps;
  if (options.maxBytes !== undefined && bytes > options.maxBytes) {
    // Budget → bitrate, with 8% headroom for the container and rate-control overshoot.
    let kbps = Math.floor((options.maxBytes * 8 * 0.92) / seconds / 1000);
    for (let retry = 0; retry < 2 && bytes > options.maxBytes; retry++) {
      if (retry > 0) kbps = Math.floor(kbps * (options.maxBytes / bytes) * 0.9);
      kbps = Math.max(kbps, 50);
      bytes = await encode({ kbps });
    }
    notes.push(`re-encoded to fit ${options.maxBytes} bytes`);
  }
  const fitsTarget = options.maxBytes === undefined || bytes <= options.maxBytes;
  const summary =
    `${list.length} frames ${width}×${height} @ ${fps} fps → ${bytes} bytes with ${encoder} ` +
    `(${attempts.map((a) => `${a.setting}: ${a.bytes} B`).join(", ")})` +
    (notes.length ? `; ${notes.join("; ")}` : "") +
    (fitsTarget ? "" : `; still over the ${options.maxBytes}-byte target`);
  return { file: out, bytes, frames: list.length, width, height, fps, encoder, attempts, fitsTarget, summary };
}

/** An mp4 encode fed frame chunks while they are still being generated (see encodeMp4Stream). */
export interface Mp4Stream {
  /** RGB8 frames [n, height, width, 3], in order; ignored after end() or abort(). */
  write(frames: Uint8Array): void;
  /** Frames written so far. */
  readonly frames: number;
  /** No more frames: ffmpeg finishes the file. */
  end(): void;
  /** Kills ffmpeg and deletes the partial file; `result` rejects with an AbortError once ffmpeg is gone. */
  abort(reason?: string): void;
  /** The finished encode (one attempt at the default quality; no size target). Rejects when ffmpeg
   * fails (the partial file is deleted) or the stream is aborted. */
  result: Promise<EncodeResult>;
}

/**
 * Starts ffmpeg now and encodes frames as they are written, so encoding overlaps the VAE decode.
 * The encoder is chosen as encodeMp4 does ("auto": h264_nvenc when listed and an NVIDIA GPU is
 * present, else libx264). One constant-quality attempt: when it fails (NVENC that is listed but
 * unusable is then marked broken, so the next encodeMp4 uses libx264) or misses a byte budget, the
 * caller encodes again with encodeMp4 from the frames it kept.
 */
export function encodeMp4Stream(
  width: number,
  height: number,
  fps = 16,
  options: Pick<EncodeOptions, "outFile" | "encoder" | "quality" | "ffmpeg" | "signal"> = {},
): Mp4Stream {
  const frameBytes = width * height * 3;
  const queue: Uint8Array[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  let frames = 0;
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(options.signal?.reason ?? "aborted");
  if (options.signal?.aborted) onOuterAbort();
  else options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  const chunks: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        if (stop.signal.aborted) return; // runFfmpeg has killed ffmpeg already
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (ended) return;
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
  let out: string | undefined;
  const result = (async (): Promise<EncodeResult> => {
    const ffmpeg = options.ffmpeg ?? "ffmpeg";
    out = options.outFile ?? join(await mkdtemp(join(tmpdir(), "turbowan-mp4-")), "video.mp4");
    const encoder = await chooseEncoder(options.encoder, ffmpeg);
    const quality = options.quality ?? 20;
    try {
      await runFfmpeg(ffmpeg, ffmpegArgs(encoder, width, height, fps, { quality }, out), chunks, { signal: stop.signal });
    } catch (err) {
      if (encoder === "h264_nvenc" && (options.encoder ?? "auto") === "auto" && !stop.signal.aborted && err instanceof Error) {
        nvencBroken = true;
        err.message = `h264_nvenc failed (libx264 is used from now on): ${err.message}`;
      }
      throw err;
    }
    if (frames === 0) throw new Error("There are no frames to encode.");
    const bytes = (await stat(out)).size;
    const setting = `${encoder === "libx264" ? "crf" : "cq"} ${quality}`;
    return {
      file: out, bytes, frames, width, height, fps, encoder,
      attempts: [{ setting, bytes }],
      fitsTarget: true,
      summary: `${frames} frames ${width}×${height} @ ${fps} fps → ${bytes} bytes with ${encoder} (${setting}: ${bytes} B), streamed during decode`,
    };
  })().then(
    (r) => {
      options.signal?.removeEventListener("abort", onOuterAbort);
      return r;
    },
    async (err: unknown) => {
      // Nothing half-written stays behind for anyone to publish.
      options.signal?.removeEventListener("abort", onOuterAbort);
      if (out) await rm(out, { force: true }).catch(() => undefined);
      throw err;
    },
  );
  result.catch(() => undefined); // the caller awaits it; an unobserved failure must not crash the process
  return {
    write(f: Uint8Array) {
      if (ended || stop.signal.aborted) return;
      if (f.byteLength === 0 || f.byteLength % frameBytes !== 0)
        throw new Error(`A chunk of ${f.byteLength} bytes is not a whole number of ${width}×${height} RGB frames.`);
      frames += f.byteLength / frameBytes;
      queue.push(f);
      wake?.();
    },
    get frames() {
      return frames;
    },
    end() {
      ended = true;
      wake?.();
    },
    abort(reason = "aborted") {
      if (!stop.signal.aborted) stop.abort(reason);
      queue.length = 0;
      wake?.();
    },
    result,
  };
}

function ffmpegArgs(
  encoder: VideoEncoder,
  width: number,
  height: number,
  fps: number,
  rate: { quality: number } | { kbps: number },
  out: string,
): string[] {
  const rateArgs =
    "quality" in rate
      ? encoder === "libx264"
        ? ["-crf", String(rate.quality)]
        : ["-rc", "vbr", "-cq", String(rate.quality), "-b:v", "0"]
      : ["-b:v", `${rate.kbps}k`, "-maxrate", `${rate.kbps}k`, "-bufsize", `${rate.kbps * 2}k`];
  return [
    "-hide_banner",
    "-loglevel", "error",
    "-y",
    "-f", "rawvideo",
    "-pix_fmt", "rgb24",
    "-s", `${width}x${height}`,
    "-framerate", String(fps),
    "-i", "pipe:0",
    // Pad odd sizes by one pixel (4:2:0 chroma needs even sides); convert with BT.709 and tag it, so
    // players do not guess the colour matrix.
    "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2,scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
    "-c:v", encoder,
    // The first, constant-quality encode is on the user's critical path: x264 `veryfast` encodes an
    // 81-frame 832×480 clip ~4× faster than `medium` (its 10-frame look-ahead also drains sooner after
    // the last streamed chunk) for a somewhat larger file. Bitrate re-encodes exist to fit a byte
    // budget, where quality per byte matters more: those use `medium`.
    ...(encoder === "libx264" ? ["-preset", "quality" in rate ? "veryfast" : "medium"] : ["-preset", "p5"]),
    ...rateArgs,
    "-pix_fmt", "yuv420p",
    "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
    "-r", String(fps),
    "-movflags", "+faststart",
    "-an",
    out,
  ];
}
