// Running ffmpeg: spawn with a clear error when it is missing, feed stdin with backpressure, and
// report ffmpeg's own last words when it fails.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

export class FfmpegMissingError extends Error {
  constructor(command: string) {
    super(`${command} was not found: install ffmpeg (apt-get install ffmpeg) or put it on PATH.`);
    this.name = "FfmpegMissingError";
  }
}

export class FfmpegFailedError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    code: number | null,
  ) {
    const tail = stderr.trim().split("\n").slice(-4).join("\n");
    super(`ffmpeg exited with ${code}: ${tail}`);
    this.name = "FfmpegFailedError";
  }
}

/** Runs `command args`, writing `input` chunks to stdin (awaiting drain between them). `input` may
 * be an async iterable whose chunks arrive while ffmpeg already encodes (streamed decode); if it
 * throws, ffmpeg is killed and the promise rejects with that error. `signal` kills ffmpeg (SIGKILL)
 * and rejects with an AbortError once the process is gone, so the caller may delete its files. */
export function runFfmpeg(
  command: string,
  args: string[],
  input?: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: { signal?: AbortSignal } = {},
): Promise<{ stderr: string }> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input ? "pipe" : "ignore", "ignore", "pipe"] });
    let stderr = "";
    // Why ffmpeg was stopped on purpose (abort, or the input failing): reported instead of its exit code.
    let stopped: Error | undefined;
    const stop = (why: Error) => {
      stopped ??= why;
      child.stdin?.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    };
    const onAbort = () => stop(abortError(signal!));
    signal?.addEventListener("abort", onAbort, { once: true });
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (d: string) => {
      // Keep the tail only: ffmpeg can be chatty on long encodes.
      stderr = (stderr + d).slice(-8000);
    });
    child.on("error", (err: NodeJS.ErrnoException) => {
      signal?.removeEventListener("abort", onAbort);
      reject(err.code === "ENOENT" ? new FfmpegMissingError(command) : err);
    });
    child.on("close", (code) => {
      signal?.removeEventListener("abort", onAbort);
      if (stopped) reject(stopped);
      else if (code === 0) resolve({ stderr });
      else reject(new FfmpegFailedError(args, stderr, code));
    });
    if (input && child.stdin) {
      const stdin = child.stdin;
      // EPIPE when ffmpeg exits early: the close handler reports why, so swallow it here.
      stdin.on("error", () => {});
      void (async () => {
        try {
          for await (const chunk of input) {
            if (stdin.destroyed) return;
            if (!stdin.write(chunk)) await drained(stdin);
          }
          stdin.end();
        } catch (err) {
          stop(err instanceof Error ? err : new Error(String(err)));
        }
      })();
    }
  });
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const err = new Error(`ffmpeg was stopped (${typeof reason === "string" ? reason : "aborted"}).`);
  err.name = "AbortError";
  return err;
}

// Resolves on "drain", or on "close" when ffmpeg quit early; removes the other listener so
// a long encode does not pile up listeners.
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

const exec = promisify(execFile);
const encoderCache = new Map<string, Promise<Set<string>>>();

/** Encoders this ffmpeg build lists (`ffmpeg -encoders`), cached per command. */
export function listEncoders(command = "ffmpeg"): Promise<Set<string>> {
  let cached = encoderCache.get(command);
  if (!cached) {
    cached = exec(command, ["-hide_banner", "-encoders"], { maxBuffer: 4 << 20 })
      .then(({ stdout }) => new Set([...stdout.matchAll(/^\s*V[.A-Z]{5}\s+(\S+)/gm)].map((m) => m[1]!)))
      .catch((err: NodeJS.ErrnoException) => {
        encoderCache.delete(command);
        throw err.code === "ENOENT" ? new FfmpegMissingError(command) : err;
      });
    encoderCache.set(command, cached);
  }
  return cached;
}

/** An NVIDIA driver is loaded (NVENC also needs one, not just an ffmpeg built with it). */
export function nvidiaGpuPresent(): boolean {
  return existsSync("/proc/driver/nvidia/version") || existsSync("/dev/nvidia0");
}
