// A file whose modification time says "the worker loop is alive" (container/healthcheck.sh reads
// its age). Touched at most every few seconds; removed when the worker stops cleanly.
import { closeSync, mkdirSync, openSync, rmSync, utimesSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";

export function heartbeatFile(file: string, log: Logger, minIntervalMs = 5000) {
  let last = 0;
  let warned = false;
  return {
    touch: () => {
      const now = Date.now();
      if (now - last < minIntervalMs) return;
      last = now;
      try {
        mkdirSync(path.dirname(file), { recursive: true });
        closeSync(openSync(file, "a"));
        utimesSync(file, now / 1000, now / 1000);
      } catch (err) {
        if (!warned) log.warn({ err, file }, "cannot write the health heartbeat file");
        warned = true;
      }
    },
    stop: () => rmSync(file, { force: true }),
  };
}
