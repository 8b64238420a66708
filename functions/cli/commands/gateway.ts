// `turbowan gateway`: Discord over the gateway (a long-lived discord.js Client) instead of HTTP
// interactions, for people who run a bot without a public endpoint. Same commands, handlers,
// limits and rendering as the HTTP route; jobs go to the configured queue, and the worker that
// runs them renders results back to Discord.
import { loadConfig, ConfigError } from "../../config.js";
import { createLogger } from "../../log.js";
import { createJobService } from "../../jobs/job-service.js";
import { parseFlags, type Command } from "../command.js";
import { openCore, platformNotifier } from "../stack.js";
import { onShutdown } from "../shutdown.js";

const usage = `usage: turbowan gateway

Connects to Discord's gateway with DISCORD_BOT_TOKEN and answers /video, /jobs and /cancel.
Needs DISCORD_APPLICATION_ID, DISCORD_PUBLIC_KEY and DISCORD_BOT_TOKEN; jobs are queued on
TURBOWAN_QUEUE for a \`turbowan worker\` (or \`turbowan serve\`) on the same queue and store.`;

export const gateway: Command = {
  name: "gateway",
  summary: "run the Discord bot over the gateway (no public HTTP endpoint needed)",
  usage,
  async run(argv) {
    parseFlags(argv, {});
    const config = loadConfig();
    if (!config.discord?.botToken)
      throw new ConfigError("turbowan gateway needs Discord: set DISCORD_APPLICATION_ID, DISCORD_PUBLIC_KEY and DISCORD_BOT_TOKEN.");
    const log = createLogger({ level: config.logLevel, name: "turbowan-gateway" });
    const core = await openCore(config);
    const notifier = await platformNotifier(config, core.store, log);
    const jobs = createJobService({ queue: core.queue, store: core.store, events: notifier });
    const { createLimits } = await import("../../../bot/limits.js");
    const { createGatewayBot } = await import("../../../bot/discord/gateway.js");
    const bot = createGatewayBot({ config: config.discord, jobs, log, limits: createLimits(config.limits, { jobs }) });
    await bot.start();
    log.info("discord gateway connected");
    await onShutdown(log);
    await bot.stop();
    await notifier?.idle();
    await core.close();
    log.info("discord gateway stopped");
    return 0;
  },
};
