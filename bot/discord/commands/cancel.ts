// /cancel [job] — stop one of your videos (the latest unfinished one when no id is given).
import { SlashCommandBuilder, type APIInteraction, type APIInteractionResponse } from "discord.js";
import type { CommandContext } from "../context.js";
import { ephemeral } from "../render.js";
import { optionValues, requesterOf } from "../to-job.js";

export const definition = new SlashCommandBuilder()
  .setName("cancel")
  .setDescription("Stop one of your videos")
  .addStringOption((o) => o.setName("job").setDescription("Job id (from /jobs); your latest unfinished one if left out"));

export async function execute(ctx: CommandContext, interaction: APIInteraction): Promise<APIInteractionResponse> {
  const me = requesterOf(interaction);
  const data = interaction.data && "options" in interaction.data ? interaction.data : undefined;
  const given = optionValues(data?.options as never).job;
  const mine = (await ctx.jobs.list({ requesterId: me.id, limit: 50 })).filter((j) => j.request.requester.platform === "discord");
  const job = given !== undefined ? mine.find((j) => j.id === String(given).trim()) : mine.find((j) => j.status === "queued" || j.status === "running");
  if (!job) {
    return ephemeral(given !== undefined ? `You have no video with id ${String(given).trim()}; /jobs lists yours.` : "You have no unfinished video to cancel.");
  }
  if (job.status !== "queued" && job.status !== "running") return ephemeral(`Video \`${job.id}\` already ${job.status}; nothing to cancel.`);
  const after = await ctx.jobs.cancel(job.id, `discord:${me.id}`);
  return ephemeral(after?.status === "cancelled" ? `Cancelled \`${job.id}\`.` : `Stopping \`${job.id}\`; it ends after the current step.`);
}
