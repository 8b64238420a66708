// A stand-in for the Discord HTTP API on loopback, answering like the real one for the routes
// turbowan uses. It checks auth (no Authorization on interaction webhooks; `Bot <token>` on bot
// routes), enforces the interaction token's 15-minute life and the upload size limit, and
// records every request.
import type { IncomingMessage, ServerResponse } from "node:http";
import { HostedFiles, listen, readBody, send, type RecordedRequest } from "./http.js";

export interface InteractionState {
  applicationId: string;
  expired: boolean;
  deleted?: boolean;
  attachmentSizeLimit: number;
  original?: { content?: string; components?: unknown[]; attachments: string[] };
  respondedWith?: unknown;
}

export interface DiscordStandIn {
  /** Pass as DISCORD_API_BASE / REST `api`. */
  apiBase: string;
  base: string;
  requests: RecordedRequest[];
  hosted: HostedFiles;
  /** Interactions by token (registered when a test posts one). */
  interactions: Map<string, InteractionState>;
  channelMessages: { channelId: string; json: any; files: RecordedRequest["files"] }[];
  commands: Map<string, unknown[]>;
  registerInteraction(token: string, applicationId: string, attachmentSizeLimit?: number): void;
  expire(token: string): void;
  /** The user deleted the original response: edits get 10008 Unknown Message. */
  deleteOriginal(token: string): void;
  followUps: { token: string; json: any; files: RecordedRequest["files"] }[];
  close(): Promise<void>;
}

let nextId = 1400000000000000000n;
const snowflake = () => String(nextId++);

export async function startDiscordStandIn(opts: { botToken: string }): Promise<DiscordStandIn> {
  const requests: RecordedRequest[] = [];
  const interactions = new Map<string, InteractionState>();
  const channelMessages: DiscordStandIn["channelMessages"] = [];
  const commands = new Map<string, unknown[]>();
  const followUps: DiscordStandIn["followUps"] = [];
  const hosted = new HostedFiles();

  const unauthorized = (res: ServerResponse) => send(res, 401, { message: "401: Unauthorized", code: 0 });
  const invalidToken = (res: ServerResponse) => send(res, 401, { message: "Invalid Webhook Token", code: 50027 });
  const tooLarge = (res: ServerResponse) => send(res, 413, { message: "Request entity too large", code: 40005 });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    if (hosted.serve(req, res)) return;
    const url = new URL(req.url ?? "/", "http://standin");
    const { json, files } = await readBody(req);
    const auth = req.headers.authorization;
    requests.push({ method: req.method!, path: url.pathname, query: url.search, authorization: auth, json, files, at: Date.now() });
    const path = url.pathname.replace(/^\/api\/v10/, "");
    const method = req.method!;
    const uploaded = files.reduce((n, f) => n + f.size, 0);
    const message = (channelId: string, body: any) => ({
      id: snowflake(),
      type: 0,
      channel_id: channelId,
      content: body?.content ?? "",
      components: body?.components ?? [],
      attachments: files.map((f, i) => ({ id: snowflake(), filename: f.name, size: f.size, url: `https://cdn.discordapp.com/attachments/${channelId}/${i}/${f.name}` })),
      embeds: [],
      timestamp: new Date().toISOString(),
      author: { id: "1234567890123456789", username: "turbowan", bot: true },
    });

    let m: RegExpExecArray | null;
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(path))) {
      if (auth) return unauthorized(res); // interaction webhooks take no Authorization header
      const state = interactions.get(m[2]!);
      if (!state || state.applicationId !== m[1] || state.expired) return invalidToken(res);
      if (uploaded > state.attachmentSizeLimit) return tooLarge(res);
      if (m[3] && method === "PATCH") {
        if (state.deleted) return send(res, 404, { message: "Unknown Message", code: 10008 });
        state.original = { content: (json as any)?.content, components: (json as any)?.components, attachments: files.map((f) => f.name) };
        return send(res, 200, message("1200000000000000002", json));
      }
      if (!m[3] && method === "POST") {
        followUps.push({ token: m[2]!, json, files });
        return send(res, 200, message("1200000000000000002", json));
      }
    }
    if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path)) && method === "POST") {
      if (auth) return unauthorized(res);
      const state = interactions.get(m[2]!);
      if (!state || state.expired) return invalidToken(res);
      state.respondedWith = json;
      return send(res, 204);
    }
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path)) && method === "POST") {
      if (auth !== `Bot ${opts.botToken}`) return unauthorized(res);
      if (uploaded > 10 * 1024 * 1024) return tooLarge(res);
      channelMessages.push({ channelId: m[1]!, json, files });
      return send(res, 200, message(m[1]!, json));
    }
    if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path)) && method === "PUT") {
      if (auth !== `Bot ${opts.botToken}`) return unauthorized(res);
      const list = (json as any[]).map((c) => ({ id: snowflake(), application_id: m![1], version: snowflake(), ...c, ...(m![2] ? { guild_id: m![2] } : {}) }));
      commands.set(m[2] ? `guild:${m[2]}` : "global", list);
      return send(res, 200, list);
    }
    return send(res, 404, { message: "404: Not Found", code: 0 });
  }

  const server = await listen(handle);
  return {
    apiBase: `${server.base}/api`,
    base: server.base,
    requests,
    hosted,
    interactions,
    channelMessages,
    commands,
    registerInteraction(token, applicationId, attachmentSizeLimit = 10 * 1024 * 1024) {
      interactions.set(token, { applicationId, expired: false, attachmentSizeLimit });
    },
    followUps,
    deleteOriginal(token) {
      const s = interactions.get(token);
      if (s) s.deleted = true;
    },
    expire(token) {
      const s = interactions.get(token);
      if (s) s.expired = true;
    },
    close: server.close,
  };
}
