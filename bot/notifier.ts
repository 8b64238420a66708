// The platform renderers behind the worker's JobEvents sink: each event goes to the platform in
// job.request.replyTo (Discord: edits/follow-ups/channel messages; GitHub: reactions and
// comments; web and cli: nothing, they read the job service). Never throws: a platform outage
// must not fail the job.
import type { JobEvent, JobEvents } from "../functions/jobs/model.js";
import { silentLogger, type BotLogger, type DiscordConfigInput, type GitHubConfigInput } from "./config.js";
import { createDiscordApi, type DiscordApi } from "./discord/api.js";
import { createDiscordDelivery } from "./discord/deliver.js";
import { discordConfigSchema } from "./config.js";
import { createGitHubClient, type GitHubClient } from "./github/client.js";
import { createGitHubDelivery } from "./github/deliver.js";

export interface PlatformNotifierDeps {
  discord?: DiscordConfigInput;
  github?: GitHubConfigInput;
  /** Reads a stored artifact (the mp4 to upload to Discord). Either this or store. */
  readArtifact?: (key: string) => Promise<Uint8Array | undefined>;
  store?: { getArtifact(key: string): Promise<{ data: Uint8Array } | undefined> };
  logger?: BotLogger;
  log?: BotLogger;
  clock?: () => number;
  /** Override the clients (tests, or sharing one with the sub-apps). */
  discordApi?: DiscordApi;
  githubClient?: GitHubClient;
}

export interface PlatformNotifier extends JobEvents {
  /** Waits until every started delivery has finished (tests, shutdown). */
  idle(): Promise<void>;
}

export function createPlatformNotifier(deps: PlatformNotifierDeps): PlatformNotifier {
  const log = deps.logger ?? deps.log ?? silentLogger;
  const readArtifact =
    deps.readArtifact ?? (async (key: string) => (deps.store ? (await deps.store.getArtifact(key))?.data : undefined));
  const discordConfig = deps.discord ? discordConfigSchema.parse(deps.discord) : undefined;
  const discord = discordConfig
    ? createDiscordDelivery({
        api: deps.discordApi ?? createDiscordApi({ apiBase: discordConfig.apiBase, botToken: discordConfig.botToken }),
        readArtifact,
        clock: deps.clock,
        progressIntervalMs: discordConfig.progressIntervalMs,
        logger: log,
      })
    : undefined;
  const github = deps.github || deps.githubClient
    ? createGitHubDelivery({ client: deps.githubClient ?? createGitHubClient(deps.github!), logger: log })
    : undefined;

  return {
    async emit(event: JobEvent) {
      try {
        const platform = event.job.request.replyTo.platform;
        if (platform === "discord") await discord?.deliver(event);
        else if (platform === "github") await github?.deliver(event);
      } catch (err) {
        log.warn({ err, jobId: event.job.id, event: event.type }, "notifier: delivery failed");
      }
    },
    async idle() {
      await Promise.all([discord?.idle(), github?.idle()]);
    },
  };
}
