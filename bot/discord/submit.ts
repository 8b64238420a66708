// Starting a video from Discord, shared by /video and the result buttons: limits first (an
// ephemeral sentence when refused), then a deferred response at once, and the slow part (image
// download, upload to the store, submit) after the reply has gone out. From then on the job's
// events edit the deferred response (deliver.ts).
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
  ctx.defer("submit", async () => {
    try {
      let imageKey = reuse?.imageKey;
      if (command.image && !imageKey) {
        const bytes = await ctx.downloadAttachment(command.image.url, 10 * 1024 * 1024);
        const size = ctx.limits.checkImageBytes(bytes.byteLength);
        if (!size.ok) throw new JobRejectedError(size.error, "limit");
        imageKey = await ctx.jobs.putInputImage(bytes, command.image.contentType);
      }
      const result = await ctx.jobs.submit(toJobRequest(interaction, command, receivedAt, imageKey));
      ctx.logger.info({ jobId: result.job.id, created: result.created, interactionId: interaction.id }, "discord: job submitted");
    } catch (err) {
      const sentence = err instanceof JobRejectedError || (err instanceof Error && err.name === "DownloadError")
        ? err.message
        : "Something went wrong while queueing the video; try again in a minute.";
      if (!(err instanceof JobRejectedError)) ctx.logger.error({ err, interactionId: interaction.id }, "discord: submit failed");
      await ctx.api.editOriginal(interaction.application_id, interaction.token, renderSubmitError(sentence));
    }
  });
  // Type 5: "thinking…", visible to the channel; the job's events replace it.
  return { type: 5 };
}
