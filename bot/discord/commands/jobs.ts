// /jobs — the caller's recent videos, only to them.
import { SlashCommandBuilder, type APIInteraction, type APIInteractionResponse } from "discord.js";
import type { CommandContext } from "../context.js";
import { ephemeral, renderJobList } from "../render.js";
import { requesterOf } from "../to-job.js";

export const definition = new SlashCommandBuilder().setName("jobs").setDescription("Your recent videos and their status");

export async function execute(ctx: CommandContext, interaction: APIInteraction): Promise<APIInteractionResponse> {
  const me = requesterOf(interaction);
  const jobs = (await ctx.jobs.list({ requesterId: me.id, limit: 25 }))
    .filter((j) => j.request.requester.platform === "discord")
    .slice(0, 10);
  return ephemeral(renderJobList(jobs));
}
