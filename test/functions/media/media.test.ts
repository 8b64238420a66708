// Real ffmpeg, real ffprobe, real sharp: the mp4 must be what chat clients and browsers play.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { encodeMp4, encodeMp4Stream, FfmpegMissingError, makePoster, makePreview, nvencWorks } from "../../../functions/media/index.js";

/** A moving colour gradient: compresses like real video (smooth, with motion). */
function gradientFrames(n: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(n * w * h * 3);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const o = ((i * h + y) * w + x) * 3;
        out[o] = (x + i * 4) & 255;
        out[o + 1] = (y * 2) & 255;
        out[o + 2] = (x + y + i * 8) & 255;
      }
  return out;
}

/** Random noise: the worst case for a size budget. */
function noiseFrames(n: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(n * w * h * 3);
  let s = 12345;
  for (let i = 0; i < out.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

function probe(file: string) {
  const json = execFileSync("ffprobe", [
    "-v", "error", "-count_frames", "-select_streams", "v:0",
    "-show_entries", "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames",
    "-of", "json", file,
  ]).toString();
  return JSON.parse(json).streams[0] as {
    codec_name: string; pix_fmt: string; width: number; height: number; r_frame_rate: string; nb_read_frames: string;
  };
}

/** An ffmpeg process writing `out` is running (the command line names it). */
function ffmpegWriting(out: string): boolean {
  try {
    return execFileSync("pgrep", ["-f", `ffmpeg .*${out}`]).toString().trim().length > 0;
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

/** Top-level MP4 box types in file order. */
function topLevelBoxes(file: string): string[] {
  const buf = readFileSync(file);
  const types: string[] = [];
  for (let o = 0; o + 8 <= buf.length; ) {
    let size = buf.readUInt32BE(o);
    types.push(buf.toString("latin1", o + 4, o + 8));
    if (size === 1) size = Number(buf.readBigUInt64BE(o + 8));
    if (size === 0) break;
    o += size;
  }
  return types;
}

describe("encodeMp4", () => {
  it("writes an H.264 yuv420p mp4 at 16 fps with every frame and the moov box before mdat", async () => {
    const r = await encodeMp4(gradientFrames(17, 160, 96), 160, 96, 16, { encoder: "libx264" });
    const s = probe(r.file);
    expect(s).toMatchObject({ codec_name: "h264", pix_fmt: "yuv420p", width: 160, height: 96, r_frame_rate: "16/1" });
    expect(Number(s.nb_read_frames)).toBe(17);
    const boxes = topLevelBoxes(r.file);
    expect(boxes.indexOf("moov")).toBeGreaterThanOrEqual(0);
    expect(boxes.indexOf("moov")).toBeLessThan(boxes.indexOf("mdat"));
    expect(r).toMatchObject({ frames: 17, fps: 16, encoder: "libx264", fitsTarget: true });
    expect(r.bytes).toBe(readFileSync(r.file).byteLength);
  });

  it("pads odd dimensions to even ones and accepts one buffer per frame", async () => {
    const all = gradientFrames(5, 101, 75);
    const frameBytes = 101 * 75 * 3;
    const frames = Array.from({ length: 5 }, (_, i) => all.subarray(i * frameBytes, (i + 1) * frameBytes));
    const r = await encodeMp4(frames, 101, 75, 16, { encoder: "libx264" });
    expect(probe(r.file)).toMatchObject({ width: 102, height: 76, pix_fmt: "yuv420p", nb_read_frames: "5" });
  });

  it("re-encodes at a computed bitrate to fit a byte budget, and says so", async () => {
    const frames = noiseFrames(16, 192, 128);
    const first = await encodeMp4(frames, 192, 128, 16, { encoder: "libx264" });
    const maxBytes = Math.floor(first.bytes / 4);
    const r = await encodeMp4(frames, 192, 128, 16, { encoder: "libx264", maxBytes });
    expect(r.attempts.length).toBeGreaterThanOrEqual(2);
    expect(r.attempts[0]!.bytes).toBeGreaterThan(maxBytes);
    expect(r.attempts[1]!.setting).toMatch(/kb\/s$/);
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
    expect(r.fitsTarget).toBe(true);
    expect(r.summary).toMatch(/re-encoded to fit/);
    expect(probe(r.file)).toMatchObject({ codec_name: "h264", nb_read_frames: "16" });
  });

  it("does not re-encode when the first encode fits", async () => {
    const r = await encodeMp4(gradientFrames(5, 64, 64), 64, 64, 16, { encoder: "libx264", maxBytes: 10 * 1024 * 1024 });
    expect(r.attempts).toHaveLength(1);
  });

  it("starts at the bitrate re-encodes when told of a constant-quality attempt that missed the budget", async () => {
    const frames = noiseFrames(16, 192, 128);
    const first = await encodeMp4(frames, 192, 128, 16, { encoder: "libx264" });
    const maxBytes = Math.floor(first.bytes / 4);
    const r = await encodeMp4(frames, 192, 128, 16, { encoder: "libx264", maxBytes, priorAttempt: first.attempts[0]! });
    expect(r.attempts[0]).toEqual(first.attempts[0]);
    expect(r.attempts[1]!.setting).toMatch(/kb\/s$/);
    expect(r.bytes).toBeLessThanOrEqual(maxBytes);
  });

  it("a signal kills ffmpeg mid-encode and rejects once it is gone", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "tw-abort-")), "video.mp4");
    const ac = new AbortController();
    const p = encodeMp4(noiseFrames(48, 640, 360), 640, 360, 16, { encoder: "libx264", outFile: out, signal: ac.signal });
    await expect.poll(() => ffmpegWriting(out)).toBe(true);
    ac.abort("cancelled");
    await expect(p).rejects.toMatchObject({ name: "AbortError" });
    expect(ffmpegWriting(out)).toBe(false);
  });

  it("picks libx264 on a machine without an NVIDIA GPU, or NVENC where one is present", async () => {
    const r = await encodeMp4(gradientFrames(5, 64, 64), 64, 64);
    const gpu = (() => {
      try {
        return readFileSync("/proc/driver/nvidia/version").length > 0;
      } catch {
        return false;
      }
    })();
    expect(r.encoder).toBe(gpu ? "h264_nvenc" : "libx264");
    expect(probe(r.file).codec_name).toBe("h264");
  });

  it.skipIf(existsSync("/dev/nvidia0"))("finds NVENC unusable where ffmpeg lists it but no NVIDIA GPU (or one without NVENC) is there", async () => {
    // Debian's ffmpeg lists h264_nvenc; this machine has no NVIDIA driver, as an H100 has no NVENC unit.
    expect(await nvencWorks()).toBe(false);
  });

  it("refuses a buffer that is not whole frames, naming the sizes", async () => {
    await expect(encodeMp4(new Uint8Array(100), 64, 64)).rejects.toThrow(/not a whole number of 64×64 RGB frames/);
  });

  it("says how to install ffmpeg when it is missing", async () => {
    await expect(
      encodeMp4(gradientFrames(5, 64, 64), 64, 64, 16, { ffmpeg: join(mkdtempSync(join(tmpdir(), "tw-")), "ffmpeg") }),
    ).rejects.toThrow(FfmpegMissingError);
    const saved = process.env.PATH;
    process.env.PATH = mkdtempSync(join(tmpdir(), "tw-empty-path-"));
    try {
      await expect(encodeMp4(gradientFrames(5, 64, 64), 64, 64, 16, { encoder: "libx264" })).rejects.toThrow(
        "ffmpeg was not found: install ffmpeg (apt-get install ffmpeg) or put it on PATH.",
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe("encodeMp4Stream", () => {
  it("encodes chunks written while they are produced into the same kind of mp4", async () => {
    const w = 96, h = 64, all = gradientFrames(9, w, h), fb = w * h * 3;
    const stream = encodeMp4Stream(w, h, 16, { encoder: "libx264" });
    // Chunks of 1, 4, 4 frames arriving over time, as the VAE decode hands them out.
    for (const [a, b] of [[0, 1], [1, 5], [5, 9]] as const) {
      await new Promise((r) => setTimeout(r, 20));
      stream.write(all.subarray(a * fb, b * fb));
    }
    stream.end();
    const r = await stream.result;
    const s = probe(r.file);
    expect(s).toMatchObject({ codec_name: "h264", pix_fmt: "yuv420p", width: 96, height: 64, r_frame_rate: "16/1" });
    expect(Number(s.nb_read_frames)).toBe(9);
    expect(r).toMatchObject({ frames: 9, fitsTarget: true, encoder: "libx264" });
    expect(stream.frames).toBe(9);
    const boxes = topLevelBoxes(r.file);
    expect(boxes.indexOf("moov")).toBeLessThan(boxes.indexOf("mdat"));
    // The same frames through encodeMp4 give the same bytes: streaming changes when, not what.
    const whole = await encodeMp4(all, w, h, 16, { encoder: "libx264" });
    expect(readFileSync(whole.file).equals(readFileSync(r.file))).toBe(true);
  });

  it("picks its encoder as encodeMp4 does", async () => {
    const stream = encodeMp4Stream(64, 64, 16);
    stream.write(gradientFrames(5, 64, 64));
    stream.end();
    const r = await stream.result;
    expect(r.encoder).toBe((await encodeMp4(gradientFrames(5, 64, 64), 64, 64)).encoder);
  });

  it("abort() kills ffmpeg mid-stream and leaves no file", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "tw-abort-")), "streamed.mp4");
    const stream = encodeMp4Stream(96, 64, 16, { encoder: "libx264", outFile: out });
    stream.write(gradientFrames(4, 96, 64));
    await expect.poll(() => ffmpegWriting(out)).toBe(true);
    stream.abort("cancelled");
    await expect(stream.result).rejects.toMatchObject({ name: "AbortError" });
    expect(ffmpegWriting(out)).toBe(false);
    expect(existsSync(out)).toBe(false);
    stream.write(gradientFrames(1, 96, 64)); // late chunks are ignored
  });

  it("an aborted signal stops it the same way", async () => {
    const out = join(mkdtempSync(join(tmpdir(), "tw-abort-")), "streamed.mp4");
    const ac = new AbortController();
    const stream = encodeMp4Stream(96, 64, 16, { encoder: "libx264", outFile: out, signal: ac.signal });
    stream.write(gradientFrames(2, 96, 64));
    await expect.poll(() => ffmpegWriting(out)).toBe(true);
    ac.abort("shutdown");
    await expect(stream.result).rejects.toThrow(/stopped \(shutdown\)/);
    expect(ffmpegWriting(out)).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it.skipIf(existsSync("/dev/nvidia0"))("a failing NVENC encode rejects with ffmpeg's words and deletes its file", async () => {
    // This ffmpeg lists h264_nvenc, but there is no NVIDIA GPU here: NVENC cannot open.
    const out = join(mkdtempSync(join(tmpdir(), "tw-nvenc-")), "streamed.mp4");
    const stream = encodeMp4Stream(64, 64, 16, { encoder: "h264_nvenc", outFile: out });
    stream.write(gradientFrames(5, 64, 64));
    stream.end();
    await expect(stream.result).rejects.toThrow(/ffmpeg exited with/);
    expect(existsSync(out)).toBe(false);
  });

  it("refuses partial frames and reports an empty stream", async () => {
    const stream = encodeMp4Stream(32, 32, 16, { encoder: "libx264" });
    expect(() => stream.write(new Uint8Array(100))).toThrow(/not a whole number of 32×32 RGB frames/);
    stream.end();
    await expect(stream.result).rejects.toThrow();
  });
});

describe("poster and preview", () => {
  it("makes a JPEG (or PNG) poster of the middle frame that sharp decodes", async () => {
    const frames = gradientFrames(9, 96, 64);
    const jpeg = await makePoster(frames, 96, 64);
    expect(jpeg.contentType).toBe("image/jpeg");
    expect(await sharp(jpeg.data).metadata()).toMatchObject({ format: "jpeg", width: 96, height: 64 });
    const png = await makePoster(frames, 96, 64, { format: "png" });
    const { data } = await sharp(png.data).raw().toBuffer({ resolveWithObject: true });
    // Lossless PNG: pixel (0,0) equals the middle frame's (frame 4).
    const mid = 4 * 96 * 64 * 3;
    expect([data[0], data[1], data[2]]).toEqual([frames[mid], frames[mid + 1], frames[mid + 2]]);
  });

  it("makes a small animated WebP preview from the mp4", async () => {
    const video = await encodeMp4(gradientFrames(33, 480, 272), 480, 272, 16, { encoder: "libx264" });
    const p = await makePreview(video.file);
    expect(p.contentType).toBe("image/webp");
    const meta = await sharp(p.file, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: "webp", width: 320 });
    expect(meta.pages).toBe(17); // 33 frames at 16 fps = 2.06 s → 8 fps
    expect(readFileSync(p.file).byteLength).toBeLessThan(video.bytes * 4);
  });

  it("makes the preview straight from raw frames (no mp4 needed), same size and frame count", async () => {
    const frames = gradientFrames(33, 480, 272);
    const p = await makePreview({ frames, width: 480, height: 272, fps: 16 }, { format: "gif" });
    const meta = await sharp(p.file, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: "gif", width: 320 });
    expect(meta.pageHeight).toBe(181); // 272·320/480, rounded
    expect(meta.pages).toBe(17);
    await expect(makePreview({ frames: frames.subarray(0, 1000), width: 480, height: 272, fps: 16 })).rejects.toThrow(/not a whole number/);
  });

  it("makes an animated GIF preview when asked", async () => {
    const video = await encodeMp4(gradientFrames(17, 160, 96), 160, 96, 16, { encoder: "libx264" });
    const p = await makePreview(video.file, { format: "gif", maxSide: 80 });
    const meta = await sharp(p.file, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: "gif", width: 80 });
    expect(meta.pages).toBeGreaterThan(1);
  });
});
