// Pure: a Discord interaction payload → the grammar's raw command, the requester, where to reply,
// and finally a JobRequest. No I/O.
import {
  ApplicationCommandOptionType,
  type APIApplicationCommandInteractionDataBasicOption,
  type APIApplicationCommandInteractionDataOption,
  type APIInteraction,
  type APIUser,
} from "discord.js";
import type { GenerationOptions, JobRequestInput, ReplyTo, Requester } from "../../functions/jobs/model.js";
import { IMAGE_OPTION, PROMPT_OPTION, type ParsedCommand, type RawCommand } from "../grammar.js";

export const DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024;

export function interactionUser(interaction: APIInteraction): APIUser | undefined {
  return interaction.member?.user ?? interaction.user;
}

export function requesterOf(interaction: APIInteraction): Requester {
  const user = interactionUser(interaction);
  return {
    platform: "discord",
    id: user?.id ?? "unknown",
    name: user ? (user.global_name ?? user.username) : undefined,
    scope: interaction.guild_id ?? undefined,
  };
}

export function replyToOf(interaction: APIInteraction, receivedAt: number): Extract<ReplyTo, { platform: "discord" }> {
  return {
    platform: "discord",
    applicationId: interaction.application_id,
    interactionToken: interaction.token,
    channelId: interaction.channel?.id ?? interaction.channel_id ?? "",
    ...(interaction.guild_id ? { guildId: interaction.guild_id } : {}),
    tokenIssuedAt: receivedAt,
    ...(typeof interaction.attachment_size_limit === "number" ? { attachmentSizeLimit: interaction.attachment_size_limit } : {}),
  };
}

/** Flattens slash options (subcommands included) to name → value. */
export function optionValues(options: APIApplicationCommandInteractionDataOption[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const o of options ?? []) {
    if (o.type === ApplicationCommandOptionType.Subcommand || o.type === ApplicationCommandOptionType.SubcommandGroup) {
      Object.assign(out, optionValues(o.options as APIApplicationCommandInteractionDataOption[]));
    } else {
      out[o.name] = (o as APIApplicationCommandInteractionDataBasicOption & { value: string | number | boolean }).value;
    }
  }
  return out;
}

/** /video's options → the grammar's input (attachment resolved to its URL, size and type). */
export function rawVideoCommand(interaction: APIInteraction): RawCommand {
  const data = interaction.data && "options" in interaction.data ? interaction.data : undefined;
  const values = optionValues(data?.options as APIApplicationCommandInteractionDataOption[] | undefined);
  const { [PROMPT_OPTION]: prompt, [IMAGE_OPTION]: imageId, ...options } = values;
  let image: RawCommand["image"];
  if (imageId !== undefined) {
    const resolved = data && "resolved" in data ? data.resolved : undefined;
    const attachment = resolved && "attachments" in resolved ? resolved.attachments?.[String(imageId)] : undefined;
    image = attachment
      ? { url: attachment.url, size: attachment.size, contentType: attachment.content_type, filename: attachment.filename }
      : { url: "" };
  }
  return { prompt, image, options };
}

export function idempotencyKeyOf(interaction: APIInteraction): string {
  return `discord:interaction:${interaction.id}`;
}

export function toJobRequest(
  interaction: APIInteraction,
  command: Pick<ParsedCommand, "kind" | "prompt"> & { options: GenerationOptions },
  receivedAt: number,
  imageKey?: string,
): JobRequestInput {
  return {
    kind: command.kind,
    prompt: command.prompt,
    ...(imageKey ? { imageKey } : {}),
    options: command.options,
    replyTo: replyToOf(interaction, receivedAt),
    requester: requesterOf(interaction),
    idempotencyKey: idempotencyKeyOf(interaction),
  };
}
