// Configuration pieces of the frontends. functions/config.ts reads the environment once; these
// schemas shape what the Discord and GitHub sub-apps take, and fromEnv() helpers map the shared
// variable names (DISCORD_*, GITHUB_*) onto them for entry points that want that.
import { z } from "zod";

export const DEFAULT_DISCORD_API_BASE = "https://discord.com/api";
export const DEFAULT_GITHUB_API_BASE = "https://api.github.com";

export const discordConfigSchema = z.object({
  applicationId: z.string({ error: "set DISCORD_APPLICATION_ID to the application id (Developer Portal → General Information)." }).min(1),
  publicKey: z
    .string({ error: "set DISCORD_PUBLIC_KEY to the application's public key (64 hex characters)." })
    .regex(/^[0-9a-fA-F]{64}$/, { error: "set DISCORD_PUBLIC_KEY to the application's public key (64 hex characters)." }),
  /** Needed for channel messages after the 15-minute token window, gateway mode and registration. */
  botToken: z.string().min(1).optional(),
  apiBase: z.url({ error: "set DISCORD_API_BASE to a full URL such as https://discord.com/api." }).default(DEFAULT_DISCORD_API_BASE),
  /** Progress edits at most this often per job (Discord allows about 5 edits per 5 s per channel). */
  progressIntervalMs: z.number().int().min(0).default(3000),
});
export type DiscordConfig = z.infer<typeof discordConfigSchema>;
export type DiscordConfigInput = z.input<typeof discordConfigSchema>;

export const AUTHOR_ASSOCIATIONS = ["OWNER", "MEMBER", "COLLABORATOR", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR", "FIRST_TIMER", "MANNEQUIN", "NONE"] as const;

export const githubConfigSchema = z.object({
  appId: z.union([z.string().min(1), z.number()], { error: "set GITHUB_APP_ID to the GitHub App's id." }),
  privateKey: z
    .string({ error: "set GITHUB_PRIVATE_KEY to the App's private key (PEM, from the App settings)." })
    .transform((k) => k.replace(/\\n/g, "\n"))
    .pipe(z.string().regex(/-----BEGIN [A-Z ]*PRIVATE KEY-----/, { error: "set GITHUB_PRIVATE_KEY to the App's private key in PEM form (-----BEGIN RSA PRIVATE KEY-----…)." })),
  webhookSecret: z.string({ error: "set GITHUB_WEBHOOK_SECRET to the App's webhook secret." }).min(1),
  apiBase: z.url({ error: "set GITHUB_API_BASE to a full URL such as https://api.github.com." }).default(DEFAULT_GITHUB_API_BASE),
  /** Who may trigger jobs: comment authors with one of these associations… */
  allowedAssociations: z.array(z.enum(AUTHOR_ASSOCIATIONS)).default(["OWNER", "MEMBER", "COLLABORATOR"]),
  /** …or these logins (in addition). */
  allowedLogins: z.array(z.string()).default([]),
  /** When set, only these repositories (owner/repo or owner/*) are served. */
  allowedRepos: z.array(z.string()).optional(),
});
export type GitHubConfig = z.infer<typeof githubConfigSchema>;
export type GitHubConfigInput = z.input<typeof githubConfigSchema>;

const present = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());

/** Discord config from the shared environment names; undefined when Discord is not configured. */
export function discordConfigFromEnv(env: Record<string, string | undefined>): DiscordConfig | undefined {
  if (!present(env.DISCORD_APPLICATION_ID) && !present(env.DISCORD_PUBLIC_KEY)) return undefined;
  return discordConfigSchema.parse({
    applicationId: present(env.DISCORD_APPLICATION_ID),
    publicKey: present(env.DISCORD_PUBLIC_KEY),
    botToken: present(env.DISCORD_BOT_TOKEN),
    apiBase: present(env.DISCORD_API_BASE),
  });
}

/** GitHub config from the shared environment names; undefined when the App is not configured. */
export function githubConfigFromEnv(env: Record<string, string | undefined>): GitHubConfig | undefined {
  if (!present(env.GITHUB_APP_ID)) return undefined;
  return githubConfigSchema.parse({
    appId: present(env.GITHUB_APP_ID),
    privateKey: present(env.GITHUB_PRIVATE_KEY),
    webhookSecret: present(env.GITHUB_WEBHOOK_SECRET),
    apiBase: present(env.GITHUB_API_BASE),
  });
}

/** The little a frontend logs through (pino's Logger fits). */
export interface BotLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: BotLogger = { debug() {}, info() {}, warn() {}, error() {} };
