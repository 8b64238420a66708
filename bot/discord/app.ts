// The HTTP interactions endpoint (mounted at /discord/interactions): verify the Ed25519 signature
// over the raw body, then hand the interaction to the shared handler and reply with its initial
// response. A bad or stale signature gets 401 and nothing else happens.
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { APIInteraction } from "discord.js";
import { discordConfigSchema } from "../config.js";
import type { DiscordDeps } from "./context.js";
import { createInteractionHandler, type InteractionHandler } from "./handler.js";
import { createDiscordVerifier } from "./verify.js";

export type DiscordAppDeps = DiscordDeps & { handler?: InteractionHandler };

export function createDiscordApp(deps: DiscordAppDeps): Hono & { handler: InteractionHandler } {
  const config = discordConfigSchema.parse(deps.config);
  const verify = createDiscordVerifier(config.publicKey, { clock: deps.clock });
  const handler = deps.handler ?? createInteractionHandler(deps);
  const app = new Hono();

  // Interactions are a few kB; a huge body is not from Discord and is refused before hashing it.
  app.post("/", bodyLimit({ maxSize: 1024 * 1024, onError: (c) => c.text("request body too large", 413) }), async (c) => {
    const raw = new Uint8Array(await c.req.arrayBuffer());
    const verdict = verify(c.req.header("x-signature-ed25519"), c.req.header("x-signature-timestamp"), raw);
    if (!verdict.ok) {
      deps.logger?.warn({ reason: verdict.reason }, "discord: rejected an unverified request");
      return c.text("invalid request signature", 401);
    }
    let interaction: APIInteraction;
    try {
      interaction = JSON.parse(Buffer.from(raw).toString("utf8")) as APIInteraction;
    } catch {
      return c.text("body is not JSON", 400);
    }
    return c.json(await handler.handle(interaction));
  });

  return Object.assign(app, { handler });
}
