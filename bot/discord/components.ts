// Buttons on a result: re-roll (new seed), same seed at 720p, retry after a failure. Each press
// is a new interaction, so it starts a new job (its own idempotency key) through the same path
// as /video, with the presser's limits.
import type { APIInteraction, APIInteractionResponse } from "discord.js";
import type { GenerationOptions } from "../../functions/jobs/model.js";
import type { ParsedCommand } from "../grammar.js";
import type { CommandContext } from "./context.js";
import { ephemeral, parseButtonId, type ButtonAction } from "./render.js";
import { startVideo } from "./submit.js";

export function optionsFor(action: ButtonAction, previous: GenerationOptions, seed: number): GenerationOptions {
  const { seed: _old, ...rest } = previous;
  if (action === "reroll") return rest; // the job service picks a fresh seed
  if (action === "hd") return { ...rest, seed, resolution: "720p" };
  return { ...rest, seed };
}

export async function handleButton(ctx: CommandContext, interaction: APIInteraction): Promise<APIInteractionResponse> {
  const customId = interaction.data && "custom_id" in interaction.data ? interaction.data.custom_id : "";
  const button = parseButtonId(customId);
  if (!button) return ephemeral("This button is not one of turbowan's.");
  const job = await ctx.jobs.get(button.jobId);
  if (!job) return ephemeral("That video is no longer known; start a new one with /video.");
  const command: ParsedCommand = {
    kind: job.request.kind,
    prompt: job.request.prompt,
    options: optionsFor(button.action, job.request.options, job.seed),
  };
  return startVideo(ctx, interaction, command, { imageKey: job.request.imageKey });
}
