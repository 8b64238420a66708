// The worker's video encoder: generated RGB frames → mp4 + poster + animated preview, by
// functions/media (ffmpeg). Kept as a thin adapter so the job runner depends on one small interface.
import type { VideoEncoder } from "./job-runner.js";

export function createVideoEncoder(): VideoEncoder {
  return {
    async encode(video, dir, opts) {
      const specifier = "../media/index.js";
      const media = (await import(specifier)) as Record<string, unknown>;
      void media;
      void video;
      void dir;
      void opts;
      throw new Error("functions/media is not available yet.");
    },
  };
}
