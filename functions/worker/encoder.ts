// The worker's video encoder: generated RGB frames → mp4, a poster still and (opts.preview, default
// on) an animated preview (for places that cannot embed mp4), all by functions/media. A thin adapter so the job runner
// depends on one small interface.
//
// Pipelined: stream() starts ffmpeg on the engine's first decoded chunk and feeds it the later
// chunks as the VAE decodes them, so when generate() returns the mp4 is (nearly) done. encode()
// keeps that file when it is complete and within the byte budget; otherwise it encodes again from
// the frames generate() returned (as without streaming) and says why in its notes.
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { FrameChunk } from "../../native/src/types.js";
import { encodeMp4, encodeMp4Stream, makePoster, makePreview, type EncodeAttempt, type Mp4Stream } from "../media/index.js";
import { listEncoders } from "../media/ffmpeg.js";
import type { StreamedVideo, StreamOutcome, VideoEncoder } from "./job-runner.js";

let chosenFormat: Promise<"webp" | "gif"> | undefined;
/** WebP when ffmpeg can write animated WebP (smaller, full colour), else GIF; asked once. */
const previewFormat = () => (chosenFormat ??= listEncoders().then((e) => (e.has("libwebp_anim") ? "webp" : "gif")));

export interface VideoEncoderOptions {
  /** Encode while the engine decodes (default true); false encodes only after generate() returns. */
  stream?: boolean;
  /** Encoder of the streamed encode: "auto" (default) picks h264_nvenc when ffmpeg lists it and an
   * NVIDIA GPU is present, else libx264, as encodeMp4 does. The re-encode after a failed stream is
   * always "auto" (after an NVENC failure that means libx264). */
  streamEncoder?: "auto" | "libx264" | "h264_nvenc";
  /** How long finish() waits for chunks still on their way after generate() returned. Default 5 s. */
  lateChunkMs?: number;
}

export function createVideoEncoder(options: VideoEncoderOptions = {}): VideoEncoder {
  const lateChunkMs = options.lateChunkMs ?? 5000;
  const encoder: VideoEncoder = {
    async encode(video, dir, opts) {
      const started = Date.now();
      // Poster and preview come from the frames, so they are made while the mp4 finishes (x264's
      // look-ahead tail, or a re-encode) instead of after it: they were ~2.5 s of a 7 s job on an H100.
      const stills = new AbortController();
      const stillsSignal = opts.signal ? AbortSignal.any([opts.signal, stills.signal]) : stills.signal;
      const sideFiles = makeStills(video, dir, stillsSignal, opts.preview ?? true);
      sideFiles.catch(() => undefined); // awaited below; a failure of the mp4 path must not leave it unobserved
      const frameCount = video.frames.byteLength / (video.width * video.height * 3);
      const notes: string[] = [];
      let mp4: { file: string; summary: string } | undefined;
      let priorAttempt: EncodeAttempt | undefined;
      if (opts.streamed) {
        const s = await opts.streamed.finish(frameCount);
        throwIfAborted(opts.signal);
        if (!s.ok) {
          notes.push(`streamed encode not used (${s.why}): encoded again from the frames`);
        } else if (s.width !== video.width || s.height !== video.height || s.fps !== video.fps) {
          notes.push(`streamed encode not used (it is ${s.width}×${s.height} @ ${s.fps} fps, the video ${video.width}×${video.height} @ ${video.fps}): encoded again`);
          await rm(s.file, { force: true });
        } else if (opts.maxBytes !== undefined && s.bytes > opts.maxBytes) {
          notes.push(`streamed encode is ${s.bytes} bytes, over the ${opts.maxBytes}-byte budget: encoded again at a bitrate`);
          priorAttempt = s.attempt;
          await rm(s.file, { force: true });
        } else {
          mp4 = { file: s.file, summary: s.summary };
        }
      }
      try {
        mp4 ??= await encodeMp4(video.frames, video.width, video.height, video.fps, {
          outFile: path.join(dir, "video.mp4"),
          ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(priorAttempt ? { priorAttempt } : {}),
        });
      } catch (err) {
        stills.abort("the mp4 encode failed");
        await sideFiles.catch(() => undefined); // ffmpeg of the preview is gone before dir is deleted
        throw err;
      }
      const mp4Ms = Date.now() - started;
      throwIfAborted(opts.signal);
      const { poster, preview } = await sideFiles;
      return { video: mp4.file, poster, preview, summary: mp4.summary, notes, streamed: notes.length === 0 && !!opts.streamed, mp4Ms };
    },
  };
  if (options.stream !== false) {
    encoder.stream = (dir, opts = {}) => streamToMp4(path.join(dir, "streamed.mp4"), opts.signal, options.streamEncoder ?? "auto", lateChunkMs);
  }
  return encoder;
}

/** Poster still and (when asked) animated preview of the generated frames, written into `dir`. */
async function makeStills(
  video: { frames: Uint8Array; width: number; height: number; fps: number },
  dir: string,
  signal: AbortSignal,
  withPreview: boolean,
): Promise<{ poster: string; preview?: string }> {
  const preview = async () => {
    // Decide the preview format here so the file lands in `dir` (cleaned up) with its extension.
    const format = await previewFormat();
    return (await makePreview(video, { format, outFile: path.join(dir, `preview.${format}`), signal })).file;
  };
  const [still, previewFile] = await Promise.all([makePoster(video.frames, video.width, video.height), withPreview ? preview() : undefined]);
  const poster = path.join(dir, `poster.${still.extension}`);
  await writeFile(poster, still.data);
  return previewFile ? { poster, preview: previewFile } : { poster };
}

/** The engine's chunks → encodeMp4Stream, checked for order and size; see StreamedVideo. */
function streamToMp4(file: string, signal: AbortSignal | undefined, encoderChoice: "auto" | "libx264" | "h264_nvenc", lateChunkMs: number): StreamedVideo {
  let enc: Mp4Stream | undefined;
  let size: { width: number; height: number } | undefined;
  let broken: string | undefined;
  // Like encodeMp4 of the returned frames, the mp4 holds every sample, one after the other.
  let sample = 0;
  let next = 0; // the frame of `sample` the next chunk must start at
  let total = 0; // frames written
  let arrived: (() => void) | undefined;
  const fail = (why: string) => {
    broken ??= why;
    enc?.abort(why);
  };
  return {
    onFrames(c: FrameChunk) {
      if (broken) return;
      try {
        if (c.sample === sample + 1 && c.firstFrame === 0 && next > 0) [sample, next] = [c.sample, 0];
        if (c.sample !== sample || c.firstFrame !== next)
          return fail(`a chunk starting at frame ${c.firstFrame} of sample ${c.sample} came where frame ${next} of sample ${sample} was due`);
        if (size && (c.width !== size.width || c.height !== size.height))
          return fail(`a ${c.width}×${c.height} chunk came in a ${size.width}×${size.height} video`);
        size ??= { width: c.width, height: c.height };
        enc ??= encodeMp4Stream(c.width, c.height, 16, { outFile: file, encoder: encoderChoice, ...(signal ? { signal } : {}) });
        enc.write(c.frames);
        next += c.count;
        total += c.count;
      } catch (err) {
        fail((err as Error).message);
      } finally {
        arrived?.();
      }
    },
    async finish(frames: number): Promise<StreamOutcome> {
      // The engine's promise can settle before its last onFrames callbacks have run (they come
      // through their own queue from the decode thread): wait for those before ending the file, or
      // it would lack its last chunk (the bug that made Chromium's playback check fail).
      const deadline = Date.now() + lateChunkMs;
      while (!broken && total < frames && !signal?.aborted && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          arrived = resolve;
          timer = setTimeout(resolve, deadline - Date.now());
        });
        clearTimeout(timer);
        arrived = undefined;
      }
      if (signal?.aborted) fail("stopped");
      if (!broken && total !== frames) fail(`${total} of ${frames} frames reached it within ${lateChunkMs} ms`);
      if (!enc) {
        broken ??= "no frames were streamed";
        return { ok: false, why: broken };
      }
      if (broken) {
        await enc.result.catch(() => undefined); // ffmpeg is gone and its file deleted
        return { ok: false, why: broken };
      }
      enc.end();
      try {
        const r = await enc.result;
        const attempt = r.attempts[0]!;
        return { ok: true, file: r.file, bytes: r.bytes, width: r.width, height: r.height, fps: r.fps, attempt, summary: r.summary };
      } catch (err) {
        return { ok: false, why: `ffmpeg failed: ${(err as Error).message.split("\n").join(" ")}` };
      }
    },
    async abort(reason = "stopped") {
      // After a successful finish() this changes nothing (ffmpeg has exited; the file stays).
      if (!broken && enc) {
        broken = reason;
        enc.abort(reason);
      }
      await enc?.result.catch(() => undefined);
    },
  };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const err = new Error("The encode was stopped.");
  err.name = "AbortError";
  throw err;
}
