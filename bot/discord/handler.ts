// The one interaction handler behind both transports: HTTP interactions (app.ts) and the gateway
// (gateway.ts). It takes a verified raw interaction and returns the initial response.
import { InteractionResponseType, InteractionType, type APIInteraction, type APIInteractionResponse } from "discord.js";
import { commands } from "./commands/index.js";
import { handleButton } from "./components.js";
import { createCommandContext, type CommandContext, type DiscordDeps } from "./context.js";
import { ephemeral } from "./render.js";

export interface InteractionHandler {
  handle(interaction: APIInteraction): Promise<APIInteractionResponse>;
  /** Resolves when deferred work (downloads, submits, error edits) has finished. */
  idle(): Promise<void>;
  readonly context: CommandContext;
}

export function createInteractionHandler(deps: DiscordDeps): InteractionHandler {
  const ctx = createCommandContext(deps);
  async function handle(interaction: APIInteraction): Promise<APIInteractionResponse> {
    try {
      switch (interaction.type) {
        case InteractionType.Ping:
          return { type: InteractionResponseType.Pong };
        case InteractionType.ApplicationCommand: {
          const command = commands.get(interaction.data.name);
          if (!command) return ephemeral(`turbowan does not know /${interaction.data.name}; run register-commands again.`);
          return await command.execute(ctx, interaction);
        }
        case InteractionType.MessageComponent:
          return await handleButton(ctx, interaction);
        default:
          return ephemeral("turbowan does not handle this kind of interaction.");
      }
    } catch (err) {
      ctx.logger.error({ err, interactionId: interaction.id }, "discord: interaction handler failed");
      return ephemeral("Something went wrong on turbowan's side; try again in a minute.");
    }
  }
  return { handle, idle: ctx.idle, context: ctx };
}
