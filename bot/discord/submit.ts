// Starting a video from Discord, shared by /video and the result buttons: limits first (an
// ephemeral sentence when refused), then the job is queued and a deferred response returned.
// With an image to download, the reply goes first and the download and submit follow. From then
// on the job's events edit the deferred response (deliver.ts).
import type { APIInteraction, APIInteractionResponse } from "discord.js";
import { JobRejectedError } from "../../functions/jobs/service.js";
import type { ParsedCommand } from "../grammar.js";
import type { CommandContext } from "./context.js";
import { ephemeral, renderSubmitError } from "./render.js";
import { requesterOf, toJobRequest } from "./to-job.js";

export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

export async function startVideo(
  ctx: CommandContext,
  interaction: APIInteraction,
  command: ParsedCommand,
  reuse?: { imageKey?: string },
): Promise<APIInteractionResponse> {
  const requester = requesterOf(interaction);
  if (command.image && !reuse?.imageKey) {
    if (!command.image.url) return ephemeral("The image attachment is missing from the request; attach it again.");
    if (command.image.contentType && !IMAGE_TYPES.includes(command.image.contentType.split(";")[0]!.trim())) {
      return ephemeral("The attachment is not a PNG, JPEG or WebP image; attach one of those.");
    }
  }
  const admitted = await ctx.limits.admit(requester, command);
  if (!admitted.ok) return ephemeral(admitted.error);

  const receivedAt = ctx.now();
  const needsDownload = Boolean(command.image && !reuse?.imageKey);
  const describe = (err: unknown) => {
    if (err instanceof JobRejectedError || (err instanceof Error && err.name === "DownloadError")) return err.message;
    ctx.logger.error({ err, interactionId: interaction.id }, "discord: submit failed");
    return "Something went wrong while queueing the video; try again in a minute.";
  };
  const submit = async (imageKey?: string) => {
    const result = await ctx.jobs.submit(toJobRequest(interaction, command, receivedAt, imageKey));
    ctx.logger.info({ jobId: result.job.id, created: result.created, interactionId: interaction.id }, "discord: job submitted");
  };

  if (!needsDownload) {
    // Queued before we answer: once Discord has its reply the job is durable, even where the
    // process is frozen right after the response (Lambda). Refusals stay ephemeral.
    try {
      await submit(reuse?.imageKey);
    } catch (err) {
      return ephemeral(describe(err));
    }
    return { type: 5 };
  }
  // A download can outlast Discord's 3-second deadline: answer first, then fetch and queue.
  ctx.defer("download and submit", async () => {
    try {
      const bytes = await ctx.downloadAttachment(command.image!.url, 10 * 1024 * 1024);
      const size = ctx.limits.checkImageBytes(bytes.byteLength);
      if (!size.ok) throw new JobRejectedError(size.error, "limit");
      await submit(await ctx.jobs.putInputImage(bytes, command.image!.contentType));
    } catch (err) {
      await ctx.api.editOriginal(interaction.application_id, interaction.token, renderSubmitError(describe(err)));
    }
  });
  // Type 5: "thinking…", visible to the channel; the job's events replace it.
  return { type: 5 };
}
