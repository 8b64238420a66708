// A one-line progress bar for TTYs; plain lines (one per stage) when the stream is not a terminal.
import type { JobProgress } from "../jobs/model.js";

const LABELS: Record<JobProgress["stage"], string> = {
  queued: "queued",
  load: "loading model",
  "encode-text": "encoding prompt",
  "encode-image": "encoding image",
  denoise: "denoising",
  decode: "decoding",
  "encode-video": "encoding mp4",
  upload: "saving",
};

export function progressBar(stream: NodeJS.WriteStream, opts: { enabled?: boolean; width?: number } = {}) {
  const enabled = opts.enabled ?? true;
  const tty = Boolean(stream.isTTY);
  const width = opts.width ?? 30;
  let lastStage: string | undefined;
  let drawn = false;
  return {
    update(p: JobProgress) {
      if (!enabled) return;
      const label = LABELS[p.stage] ?? p.stage;
      if (!tty) {
        if (p.stage !== lastStage) stream.write(`${label}...\n`);
        lastStage = p.stage;
        return;
      }
      const frac = p.total > 0 ? Math.min(1, p.step / p.total) : 0;
      const filled = Math.round(frac * width);
      const counts = p.total > 0 ? ` ${p.step}/${p.total}` : "";
      stream.write(`\r\x1b[2K[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${label}${counts}`);
      drawn = true;
      lastStage = p.stage;
    },
    done() {
      if (tty && drawn) stream.write("\r\x1b[2K");
      drawn = false;
    },
  };
}
