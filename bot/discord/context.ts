// What every Discord command and button handler receives: a small typed context, built once per
// app (HTTP or gateway) from the deps the entry point passes.
import type { JobService } from "../../functions/jobs/service.js";
import { discordConfigSchema, silentLogger, type BotLogger, type DiscordConfig, type DiscordConfigInput } from "../config.js";
import { downloadImage } from "../download.js";
import { createLimits, type Limits } from "../limits.js";
import { createDiscordApi, type DiscordApi } from "./api.js";

export interface DiscordDeps {
  jobs: JobService;
  config: DiscordConfigInput;
  logger?: BotLogger;
  /** Same as logger (the name the CLI's wiring passes). */
  log?: BotLogger;
  limits?: Limits;
  clock?: () => number;
  /** Defaults to discord.js REST against config.apiBase. */
  api?: DiscordApi;
  /** Used to download /video image attachments from Discord's CDN (tests point it at a stand-in). */
  fetchImpl?: typeof fetch;
  /** Keeps work running after the HTTP reply (e.g. an execution context's waitUntil). */
  waitUntil?: (task: Promise<unknown>) => void;
}

/** Discord's attachment hosts: the only places /video downloads an image from. */
export const DISCORD_CDN_HOSTS = ["cdn.discordapp.com", "media.discordapp.net"] as const;

export interface CommandContext {
  jobs: JobService;
  limits: Limits;
  config: DiscordConfig;
  logger: BotLogger;
  api: DiscordApi;
  now(): number;
  /** Runs work after the initial response has gone out; errors are logged, never thrown. */
  defer(name: string, task: () => Promise<void>): void;
  downloadAttachment(url: string, maxBytes: number): Promise<Uint8Array>;
  /** Resolves when all deferred work has finished (tests, graceful shutdown). */
  idle(): Promise<void>;
}

export function createCommandContext(deps: DiscordDeps): CommandContext {
  const config = discordConfigSchema.parse(deps.config);
  const logger = deps.logger ?? deps.log ?? silentLogger;
  const pending = new Set<Promise<void>>();
  return {
    jobs: deps.jobs,
    limits: deps.limits ?? createLimits(undefined, { jobs: deps.jobs, clock: deps.clock }),
    config,
    logger,
    api: deps.api ?? createDiscordApi({ apiBase: config.apiBase, botToken: config.botToken }),
    now: deps.clock ?? Date.now,
    defer(name, task) {
      // setImmediate: the initial response is written before any follow-up edit is attempted.
      const run = new Promise<void>((resolve) => setImmediate(resolve))
        .then(task)
        .catch((err: unknown) => logger.error({ err, task: name }, "discord: deferred work failed"));
      pending.add(run);
      void run.finally(() => pending.delete(run));
      deps.waitUntil?.(run);
    },
    downloadAttachment(url, maxBytes) {
      return downloadImage(url, { allowedHosts: DISCORD_CDN_HOSTS, maxBytes, fetchImpl: deps.fetchImpl });
    },
    async idle() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
