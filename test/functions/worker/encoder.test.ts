// The worker's encoder adapter over real ffmpeg: frames → mp4 + poster + preview in the job's folder.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
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
