// /video prompt [image] [model] [resolution] … — text or image to video.
import { SlashCommandBuilder, type APIInteraction, type APIInteractionResponse } from "discord.js";
import { PROMPT_MAX_CHARS } from "../../../functions/jobs/model.js";
import { OPTION_SPECS, parseCommand } from "../../grammar.js";
import type { CommandContext } from "../context.js";
import { ephemeral } from "../render.js";
import { startVideo } from "../submit.js";
import { rawVideoCommand } from "../to-job.js";

function buildDefinition() {
  const builder = new SlashCommandBuilder()
    .setName("video")
    .setDescription("Make a short video from a prompt (and optionally an image)")
    .addStringOption((o) => o.setName("prompt").setDescription("What should happen in the video").setRequired(true).setMaxLength(PROMPT_MAX_CHARS))
    .addAttachmentOption((o) => o.setName("image").setDescription("A picture to animate (PNG, JPEG or WebP)"));
  // The options come from the shared grammar, so Discord offers exactly what every frontend takes.
  for (const spec of OPTION_SPECS) {
    if (spec.type === "string") {
      builder.addStringOption((o) => {
        o.setName(spec.name).setDescription(spec.description);
        if (spec.choices) o.addChoices(...spec.choices.map((c) => ({ name: c, value: c })));
        return o;
      });
    } else if (spec.type === "integer") {
      builder.addIntegerOption((o) => {
        o.setName(spec.name).setDescription(spec.description);
        if (spec.min !== undefined) o.setMinValue(spec.min);
        if (spec.max !== undefined) o.setMaxValue(spec.max);
        return o;
      });
    } else if (spec.type === "number") {
      builder.addNumberOption((o) => {
        o.setName(spec.name).setDescription(spec.description);
        if (spec.min !== undefined) o.setMinValue(spec.min);
        if (spec.max !== undefined) o.setMaxValue(spec.max);
        return o;
      });
    } else {
      builder.addBooleanOption((o) => o.setName(spec.name).setDescription(spec.description));
    }
  }
  return builder;
}

export const definition = buildDefinition();

export async function execute(ctx: CommandContext, interaction: APIInteraction): Promise<APIInteractionResponse> {
  const parsed = parseCommand(rawVideoCommand(interaction));
  if (!parsed.ok) return ephemeral(parsed.error);
  return startVideo(ctx, interaction, parsed.command);
}
