// Every slash command: its definition (registered by register-commands) and its handler.
import type { APIInteraction, APIInteractionResponse, RESTPostAPIChatInputApplicationCommandsJSONBody } from "discord.js";
import type { CommandContext } from "../context.js";
import * as cancel from "./cancel.js";
import * as jobs from "./jobs.js";
import * as video from "./video.js";

export interface SlashCommand {
  definition: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(ctx: CommandContext, interaction: APIInteraction): Promise<APIInteractionResponse>;
}

export const commands: ReadonlyMap<string, SlashCommand> = new Map(
  [video, jobs, cancel].map((c) => [c.definition.name, c as SlashCommand]),
);

/** The JSON body of the bulk-overwrite registration. */
export function commandDefinitions(): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  return [...commands.values()].map((c) => c.definition.toJSON());
}
