// What a CLI command is: one file per command in commands/, listed in commands/index.ts.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { z } from "zod";

export interface Command {
  name: string;
  /** One line for `turbowan help`. */
  summary: string;
  /** Full usage text for `turbowan <name> --help`. */
  usage: string;
  /** Returns the exit code. Throw UsageError for bad flags (exit 2 with the message). */
  run(argv: string[]): Promise<number>;
}

/** Bad flags or configuration: printed without a stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** parseArgs that throws UsageError (unknown flag, missing value) instead of a TypeError. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Validates parsed flags with zod; the messages say what to pass. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new UsageError(parsed.error.issues.map((i) => `${i.path.length ? `--${i.path.join(".")}: ` : ""}${i.message}`).join("\n"));
  }
  return parsed.data;
}

/** A flag's number, or undefined when absent (zod then reports bad numbers with the flag's name). */
export const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
