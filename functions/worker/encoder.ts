// The worker's video encoder: generated RGB frames → mp4, a poster still and an animated preview
// (for places that cannot embed mp4), all by functions/media. A thin adapter so the job runner
// depends on one small interface.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { encodeMp4, makePoster, makePreview } from "../media/index.js";
import { listEncoders } from "../media/ffmpeg.js";
import type { VideoEncoder } from "./job-runner.js";

let chosenFormat: Promise<"webp" | "gif"> | undefined;
/** WebP when ffmpeg can write animated WebP (smaller, full colour), else GIF; asked once. */
const previewFormat = () => (chosenFormat ??= listEncoders().then((e) => (e.has("libwebp_anim") ? "webp" : "gif")));

export function createVideoEncoder(): VideoEncoder {
  return {
    async encode(video, dir, opts) {
      const mp4 = await encodeMp4(video.frames, video.width, video.height, video.fps, {
        outFile: path.join(dir, "video.mp4"),
        ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      });
      const still = await makePoster(video.frames, video.width, video.height);
      const poster = path.join(dir, `poster.${still.extension}`);
      await writeFile(poster, still.data);
      // Decide the preview format here so the file lands in `dir` (cleaned up) with its extension.
      const format = await previewFormat();
      const preview = await makePreview(mp4.file, { format, outFile: path.join(dir, `preview.${format}`) });
      return { video: mp4.file, poster, preview: preview.file };
    },
  };
}
