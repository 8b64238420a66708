// The worker's video encoder: generated RGB frames → mp4 (+ poster and animated preview when
// functions/media provides them). A thin adapter so the job runner depends on one small interface.
import path from "node:path";
import { encodeMp4 } from "../media/encode.js";
import type { VideoEncoder } from "./job-runner.js";

export function createVideoEncoder(): VideoEncoder {
  return {
    async encode(video, dir, opts) {
      const mp4 = await encodeMp4(video.frames, video.width, video.height, video.fps, {
        outFile: path.join(dir, "video.mp4"),
        ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      });
      return { video: mp4.file };
    },
  };
}
