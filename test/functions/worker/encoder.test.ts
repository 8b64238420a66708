// The worker's encoder adapter over real ffmpeg: frames → mp4 + poster + preview in the job's folder.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createVideoEncoder } from "../../../functions/worker/encoder.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "tw-encoder-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("writes an H.264 mp4 with every frame, a poster and a preview into the given folder", async () => {
  const [w, h, n] = [64, 48, 9];
  const frames = new Uint8Array(n * w * h * 3);
  for (let f = 0; f < n; f++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const o = ((f * h + y) * w + x) * 3;
        frames[o] = (x * 4 + f * 20) & 255;
        frames[o + 1] = y * 5;
        frames[o + 2] = 128;
      }
  const out = await createVideoEncoder().encode({ frames, numFrames: n, width: w, height: h, fps: 16, seed: 1, timingsMs: {} }, dir, {});
  expect(path.dirname(out.video)).toBe(dir);
  const probe = JSON.parse(
    execFileSync("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=codec_name,pix_fmt,width,height,nb_read_frames", "-of", "json", out.video], { encoding: "utf8" }),
  ).streams[0];
  expect(probe).toMatchObject({ codec_name: "h264", pix_fmt: "yuv420p", width: 64, height: 48, nb_read_frames: "9" });
  expect(out.poster && existsSync(out.poster) && path.dirname(out.poster)).toBe(dir);
  expect(out.poster).toMatch(/poster\.(jpg|png)$/);
  expect(out.preview && existsSync(out.preview) && path.dirname(out.preview)).toBe(dir);
  expect(out.preview).toMatch(/preview\.(webp|gif)$/);
});

describe("streamed encode (frames go to ffmpeg while the engine still decodes)", () => {
  const [w, h, n] = [64, 48, 9];
  const fb = w * h * 3;
  const frames = new Uint8Array(n * fb).map((_, i) => (i * 7) & 255);
  const video = { frames, numFrames: n, width: w, height: h, fps: 16, seed: 1, timingsMs: {} };
  // The engine's chunks for 9 frames: 1, 4, 4 (one per latent frame).
  const chunk = (a: number, b: number, sample = 0) => ({ frames: frames.subarray(a * fb, b * fb), sample, firstFrame: a, count: b - a, width: w, height: h });
  const countFrames = (file: string) =>
    execFileSync("ffprobe", ["-v", "error", "-count_frames", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file], { encoding: "utf8" }).trim();
  const sub = () => mkdtempSync(path.join(dir, "s-"));

  it("keeps the mp4 made during the decode when it is complete", async () => {
    const enc = createVideoEncoder();
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(1, 5));
    s.onFrames(chunk(5, 9));
    const out = await enc.encode(video, d, { streamed: s });
    expect(path.basename(out.video)).toBe("streamed.mp4");
    expect(out).toMatchObject({ streamed: true, notes: [] });
    expect(out.summary).toMatch(/streamed during decode/);
    expect(out.mp4Ms).toBeGreaterThanOrEqual(0);
    expect(countFrames(out.video)).toBe("9");
    expect(out.poster && existsSync(out.poster)).toBe(true);
    expect(out.preview && existsSync(out.preview)).toBe(true);
  });

  it("holds every sample one after the other, as encodeMp4 of the returned frames does", async () => {
    // Two samples of 5 frames ([0,1), [1,5) each): the returned buffer is sample 0 then sample 1.
    const ten = new Uint8Array(10 * fb).map((_, i) => (i * 5) & 255);
    const two = { ...video, numFrames: 10, frames: ten };
    const c = (s: number, a: number, b: number) => ({ frames: ten.subarray((s * 5 + a) * fb, (s * 5 + b) * fb), sample: s, firstFrame: a, count: b - a, width: w, height: h });
    const enc = createVideoEncoder();
    const d = sub();
    const s = enc.stream!(d);
    for (const [sm, a, b] of [[0, 0, 1], [0, 1, 5], [1, 0, 1], [1, 1, 5]] as const) s.onFrames(c(sm, a, b));
    const out = await enc.encode(two, d, { streamed: s });
    expect(out.streamed).toBe(true);
    expect(countFrames(out.video)).toBe("10");
    const whole = await createVideoEncoder({ stream: false }).encode(two, sub(), {});
    expect(readFileSync(out.video).equals(readFileSync(whole.video))).toBe(true);
  });

  it("waits for the last chunk when generate() settles before its callback has run", async () => {
    // What the engine does now and then: the promise resolves, then the last onFrames arrives.
    // Ending ffmpeg's input at once made a 1-frame mp4 that Chromium would not play.
    const enc = createVideoEncoder();
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(1, 5));
    setTimeout(() => s.onFrames(chunk(5, 9)), 100);
    const out = await enc.encode(video, d, { streamed: s });
    expect(out.streamed).toBe(true);
    expect(countFrames(out.video)).toBe("9");
  });

  it("encodes again from the frames when chunks are missing, and says so", async () => {
    const enc = createVideoEncoder({ lateChunkMs: 200 });
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(1, 5)); // the last chunk never comes
    const out = await enc.encode(video, d, { streamed: s });
    expect(path.basename(out.video)).toBe("video.mp4");
    expect(out.streamed).toBe(false);
    expect(out.notes).toEqual([expect.stringMatching(/streamed encode not used \(5 of 9 frames reached it within 200 ms\)/)]);
    expect(countFrames(out.video)).toBe("9");
    expect(existsSync(path.join(d, "streamed.mp4"))).toBe(false);
  });

  it("encodes again when chunks come out of order", async () => {
    const enc = createVideoEncoder();
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(5, 9));
    const out = await enc.encode(video, d, { streamed: s });
    expect(out.notes?.[0]).toMatch(/a chunk starting at frame 5 of sample 0 came where frame 1 of sample 0 was due/);
    expect(countFrames(out.video)).toBe("9");
  });

  it("encodes again at a bitrate when the streamed mp4 misses the byte budget", async () => {
    const enc = createVideoEncoder();
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(1, 9));
    const out = await enc.encode(video, d, { streamed: s, maxBytes: 2000 });
    expect(path.basename(out.video)).toBe("video.mp4");
    expect(out.notes?.[0]).toMatch(/streamed encode is \d+ bytes, over the 2000-byte budget/);
    expect(out.summary).toMatch(/kb\/s/);
    expect(out.summary).not.toMatch(/crf 20: \d+ B, crf/); // the constant-quality encode was not made twice
  });

  it.skipIf(existsSync("/dev/nvidia0"))("falls back to libx264 when the streamed NVENC encode fails", async () => {
    // This ffmpeg lists h264_nvenc but there is no NVIDIA GPU: NVENC fails as on a GPU without it (H100).
    const enc = createVideoEncoder({ streamEncoder: "h264_nvenc" });
    const d = sub();
    const s = enc.stream!(d);
    s.onFrames(chunk(0, 1));
    s.onFrames(chunk(1, 9));
    const out = await enc.encode(video, d, { streamed: s });
    expect(out.notes?.[0]).toMatch(/streamed encode not used \(ffmpeg failed: /);
    expect(out.summary).toMatch(/with libx264/);
    expect(countFrames(out.video)).toBe("9");
  });

  it("abort() kills ffmpeg and leaves no partial file; a signal does the same", async () => {
    for (const how of ["abort", "signal"] as const) {
      const ac = new AbortController();
      const enc = createVideoEncoder();
      const d = sub();
      const s = enc.stream!(d, { signal: ac.signal });
      s.onFrames(chunk(0, 1));
      s.onFrames(chunk(1, 5));
      const file = path.join(d, "streamed.mp4");
      await expect.poll(() => ffmpegWriting(file)).toBe(true);
      if (how === "abort") await s.abort("cancelled");
      else {
        ac.abort("shutdown");
        await s.abort();
      }
      expect(ffmpegWriting(file)).toBe(false);
      expect(existsSync(file)).toBe(false);
      s.onFrames(chunk(5, 9)); // late chunks change nothing
      expect(existsSync(file)).toBe(false);
    }
  });

  it("without streaming encodes after the decode, as before", async () => {
    const enc = createVideoEncoder({ stream: false });
    expect(enc.stream).toBeUndefined();
    const out = await enc.encode(video, sub(), {});
    expect(out).toMatchObject({ streamed: false, notes: [] });
    expect(countFrames(out.video)).toBe("9");
  });
});

function ffmpegWriting(out: string): boolean {
  try {
    return execFileSync("pgrep", ["-f", `ffmpeg .*${out}`]).toString().trim().length > 0;
  } catch {
    return false;
  }
}
