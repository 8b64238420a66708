// The Discord REST calls turbowan makes, through discord.js's REST client (rate-limit buckets,
// retries, multipart uploads). Interaction webhooks are called without the bot token, as Discord
// requires; channel messages and command registration use it.
import {
  REST,
  Routes,
  DiscordAPIError,
  type APIInteractionResponse,
  type APIMessage,
  type RESTPostAPIChannelMessageJSONBody,
  type RESTPatchAPIWebhookWithTokenMessageJSONBody,
  type RESTPutAPIApplicationCommandsJSONBody,
} from "discord.js";

export interface UploadFile {
  name: string;
  data: Uint8Array;
  contentType?: string;
}

export type MessageBody = RESTPatchAPIWebhookWithTokenMessageJSONBody & RESTPostAPIChannelMessageJSONBody;

export interface DiscordApi {
  editOriginal(applicationId: string, interactionToken: string, body: MessageBody, files?: UploadFile[]): Promise<APIMessage>;
  followUp(applicationId: string, interactionToken: string, body: MessageBody, files?: UploadFile[]): Promise<APIMessage>;
  /** Needs the bot token and the bot in the channel's guild. */
  createChannelMessage(channelId: string, body: MessageBody, files?: UploadFile[]): Promise<APIMessage>;
  /** The initial response, for gateway mode (over HTTP the response is the HTTP reply). */
  respond(interactionId: string, interactionToken: string, response: APIInteractionResponse, files?: UploadFile[]): Promise<void>;
  /** Bulk overwrite: the list given becomes the whole list (idempotent). */
  putCommands(applicationId: string, commands: RESTPutAPIApplicationCommandsJSONBody, guildId?: string): Promise<unknown[]>;
  readonly hasBotToken: boolean;
}

export function createDiscordApi(options: { apiBase: string; botToken?: string; timeoutMs?: number }): DiscordApi {
  const rest = new REST({ api: options.apiBase, version: "10", timeout: options.timeoutMs ?? 15_000 });
  if (options.botToken) rest.setToken(options.botToken);
  const files = (list?: UploadFile[]) =>
    list?.map((f) => ({ name: f.name, data: Buffer.from(f.data), contentType: f.contentType }));
  // With files, attachments[] names them so an edit replaces what the message had.
  const withAttachments = (body: MessageBody, list?: UploadFile[]): MessageBody =>
    list?.length ? { ...body, attachments: list.map((f, i) => ({ id: String(i), filename: f.name })) } : body;

  return {
    hasBotToken: Boolean(options.botToken),
    async editOriginal(applicationId, token, body, list) {
      return (await rest.patch(Routes.webhookMessage(applicationId, token), {
        auth: false,
        body: withAttachments(body, list),
        files: files(list),
      })) as APIMessage;
    },
    async followUp(applicationId, token, body, list) {
      return (await rest.post(Routes.webhook(applicationId, token), {
        auth: false,
        body: withAttachments(body, list),
        files: files(list),
      })) as APIMessage;
    },
    async createChannelMessage(channelId, body, list) {
      return (await rest.post(Routes.channelMessages(channelId), { body: withAttachments(body, list), files: files(list) })) as APIMessage;
    },
    async respond(interactionId, token, response, list) {
      await rest.post(Routes.interactionCallback(interactionId, token), { auth: false, body: response, files: files(list) });
    },
    async putCommands(applicationId, commands, guildId) {
      const route = guildId ? Routes.applicationGuildCommands(applicationId, guildId) : Routes.applicationCommands(applicationId);
      return (await rest.put(route, { body: commands })) as unknown[];
    },
  };
}

/** Discord error codes that mean "this interaction token can no longer be used". */
const TOKEN_GONE = new Set([10015 /* Unknown Webhook */, 50027 /* Invalid Webhook Token */]);

export function isTokenGone(err: unknown): boolean {
  return err instanceof DiscordAPIError && (TOKEN_GONE.has(Number(err.code)) || err.status === 401);
}

/** Upload refused for size (HTTP 413 or Discord code 40005). */
export function isTooLarge(err: unknown): boolean {
  return err instanceof DiscordAPIError && (err.status === 413 || Number(err.code) === 40005);
}

/** The original response is gone (the user dismissed or deleted it). */
export function isUnknownMessage(err: unknown): boolean {
  return err instanceof DiscordAPIError && Number(err.code) === 10008;
}

/** What Discord answers when an edit arrives before it has registered the deferred reply. */
export function isNotYetKnown(err: unknown): boolean {
  return err instanceof DiscordAPIError && (Number(err.code) === 10008 || Number(err.code) === 10015);
}
