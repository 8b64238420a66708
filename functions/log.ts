// The one logger factory: JSON lines (pino), secrets redacted, a job id bound on every line of a
// job through child loggers (`jobLogger(log, id)`).
import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger } from "pino";

/** Paths pino blanks out wherever they appear in a logged object. */
export const REDACT_PATHS = [
  "token",
  "*.token",
  "botToken",
  "*.botToken",
  "privateKey",
  "*.privateKey",
  "webhookSecret",
  "*.webhookSecret",
  "interactionToken",
  "*.interactionToken",
  "*.*.interactionToken",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "secret",
  "*.secret",
  "password",
  "*.password",
];

export interface LoggerOptions {
  level?: string;
  name?: string;
  /** Where lines go; default stdout. Tests pass a stream to read lines back. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      name: opts.name ?? "turbowan",
      level: opts.level ?? process.env.LOG_LEVEL ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A child logger that puts `jobId` on every line. */
export function jobLogger(log: Logger, jobId: string): Logger {
  return log.child({ jobId });
}

/** A logger that writes nothing (tests, library defaults). */
export const silentLogger: Logger = pino({ level: "silent" });
