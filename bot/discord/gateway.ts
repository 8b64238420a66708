// Gateway mode: a long-lived discord.js Client for people who run a bot instead of an HTTP
// endpoint. Raw INTERACTION_CREATE dispatches go to the same handler as HTTP interactions, and
// the handler's initial response is sent back through the interaction callback endpoint; job
// events are rendered by the same notifier. No command logic lives here.
import { Client, GatewayIntentBits, type APIInteraction } from "discord.js";
import type { DiscordDeps } from "./context.js";
import { createInteractionHandler, type InteractionHandler } from "./handler.js";

export interface GatewayBot {
  client: Client;
  handler: InteractionHandler;
  /** The function the client calls for each raw interaction (exported so tests drive it). */
  onInteraction(raw: APIInteraction): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createGatewayListener(handler: InteractionHandler) {
  const ctx = handler.context;
  return async function onInteraction(raw: APIInteraction): Promise<void> {
    try {
      const response = await handler.handle(raw);
      await ctx.api.respond(raw.id, raw.token, response);
    } catch (err) {
      ctx.logger.error({ err, interactionId: raw.id }, "discord gateway: could not answer an interaction");
    }
  };
}

export function createGatewayBot(deps: DiscordDeps): GatewayBot {
  const handler = createInteractionHandler(deps);
  const config = handler.context.config;
  if (!config.botToken) throw new Error("gateway mode needs DISCORD_BOT_TOKEN: set it to the bot's token (Developer Portal → Bot → Reset Token).");
  // Slash commands need no privileged intents; Guilds keeps channel/guild caches coherent.
  const client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: config.apiBase } });
  const onInteraction = createGatewayListener(handler);
  client.ws.on("INTERACTION_CREATE" as never, (data: APIInteraction) => void onInteraction(data));
  return {
    client,
    handler,
    onInteraction,
    async start() {
      await client.login(config.botToken);
    },
    async stop() {
      await handler.idle();
      await client.destroy();
    },
  };
}
