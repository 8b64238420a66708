// Configuration from the environment, validated once at start. Every message says what to set.
// Entry points (CLI commands, ingress, worker) call loadConfig(); nothing else reads process.env.
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { AUTHOR_ASSOCIATIONS } from "../bot/config.js";
import { limitsConfigSchema, type LimitsConfig } from "../bot/limits.js";
import { MODELS } from "./jobs/model.js";

// An http(s) URL. Checked by shape, not by the WHATWG parser: SQS emulators answer with queue URLs
// such as http://sqs.us-east-1.127.0.0.1:4566/000000000000/jobs, which it refuses.
const url = (name: string, what: string) =>
  z.string().regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, { error: `set ${name} to ${what} (a full URL such as https://...).` });

const optionalText = z
  .string()
  .optional()
  .transform((s) => (s === undefined || s.trim() === "" ? undefined : s.trim()));

const port = z.coerce
  .number({ error: "set TURBOWAN_PORT to a TCP port number (1-65535)." })
  .int({ error: "set TURBOWAN_PORT to a whole TCP port number (1-65535)." })
  .min(0, { error: "set TURBOWAN_PORT to a TCP port number (1-65535)." })
  .max(65535, { error: "set TURBOWAN_PORT to a TCP port number (1-65535)." });

const modelList = z
  .string()
  .transform((s) => s.split(",").map((m) => m.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.enum(MODELS, { error: `set TURBOWAN_MODELS to a comma list of: ${MODELS.join(", ")}.` }))
      .min(1, { error: `set TURBOWAN_MODELS to at least one of: ${MODELS.join(", ")}.` }),
  );

export const envSchema = z
  .object({
    TURBOWAN_DATA_DIR: z.string().min(1).default("./data"),
    TURBOWAN_QUEUE: z.enum(["sqlite", "sqs"], { error: "set TURBOWAN_QUEUE to sqlite (embedded, default) or sqs." }).default("sqlite"),
    TURBOWAN_SQS_QUEUE_URL: url("TURBOWAN_SQS_QUEUE_URL", "the SQS queue URL").optional(),
    TURBOWAN_SQS_DLQ_URL: url("TURBOWAN_SQS_DLQ_URL", "the SQS dead-letter queue URL").optional(),
    AWS_REGION: optionalText,
    AWS_ENDPOINT_URL: url("AWS_ENDPOINT_URL", "the AWS endpoint (for an SQS/S3-compatible server)").optional(),
    TURBOWAN_STORE: z.enum(["local", "s3"], { error: "set TURBOWAN_STORE to local (default) or s3." }).default("local"),
    TURBOWAN_S3_BUCKET: optionalText,
    TURBOWAN_S3_PREFIX: z.string().default(""),
    // Default: http://localhost:<TURBOWAN_PORT> (filled in below).
    TURBOWAN_PUBLIC_URL: url("TURBOWAN_PUBLIC_URL", "the address people reach this server at").optional(),
    TURBOWAN_PORT: port.default(8787),
    TURBOWAN_MODELS_DIR: z.string().min(1).default("./models"),
    TURBOWAN_MODELS: modelList.default(["demo"]),
    TURBOWAN_BACKEND: z
      .enum(["auto", "cpu", "cuda"], { error: "set TURBOWAN_BACKEND to auto (default), cpu or cuda." })
      .default("auto"),
    TURBOWAN_TEXT_ENCODER_WEIGHTS: z
      .enum(["auto", "bf16", "int8"], {
        error: "set TURBOWAN_TEXT_ENCODER_WEIGHTS to auto (default: int8 on GPUs under 40 GiB, else bf16), bf16 or int8.",
      })
      .default("auto"),
    DISCORD_APPLICATION_ID: optionalText,
    DISCORD_PUBLIC_KEY: optionalText,
    DISCORD_BOT_TOKEN: optionalText,
    DISCORD_API_BASE: url("DISCORD_API_BASE", "the Discord API base").optional(),
    GITHUB_APP_ID: optionalText,
    GITHUB_PRIVATE_KEY: optionalText,
    GITHUB_WEBHOOK_SECRET: optionalText,
    GITHUB_API_BASE: url("GITHUB_API_BASE", "the GitHub API base").optional(),
    GITHUB_ALLOWED_ASSOCIATIONS: optionalText,
    GITHUB_ALLOWED_LOGINS: optionalText,
    GITHUB_ALLOWED_REPOS: optionalText,
    TURBOWAN_LIMITS: optionalText,
    TURBOWAN_LIMITS_FILE: optionalText,
    LOG_LEVEL: z
      .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
        error: "set LOG_LEVEL to one of fatal, error, warn, info, debug, trace, silent.",
      })
      .default("info"),
  })
  .superRefine((env, ctx) => {
    if (env.TURBOWAN_QUEUE === "sqs" && !env.TURBOWAN_SQS_QUEUE_URL) {
      ctx.addIssue({ code: "custom", path: ["TURBOWAN_SQS_QUEUE_URL"], message: "TURBOWAN_QUEUE=sqs: set TURBOWAN_SQS_QUEUE_URL to the SQS queue URL." });
    }
    if (env.TURBOWAN_STORE === "s3" && !env.TURBOWAN_S3_BUCKET) {
      ctx.addIssue({ code: "custom", path: ["TURBOWAN_S3_BUCKET"], message: "TURBOWAN_STORE=s3: set TURBOWAN_S3_BUCKET to the artifact bucket name." });
    }
    const discord = [env.DISCORD_APPLICATION_ID, env.DISCORD_PUBLIC_KEY];
    if (discord.some(Boolean) && !discord.every(Boolean)) {
      ctx.addIssue({
        code: "custom",
        path: ["DISCORD_PUBLIC_KEY"],
        message: "Discord is half configured: set both DISCORD_APPLICATION_ID and DISCORD_PUBLIC_KEY (the application's public key), or neither.",
      });
    }
    const github = [env.GITHUB_APP_ID, env.GITHUB_PRIVATE_KEY, env.GITHUB_WEBHOOK_SECRET];
    if (github.some(Boolean) && !github.every(Boolean)) {
      ctx.addIssue({
        code: "custom",
        path: ["GITHUB_WEBHOOK_SECRET"],
        message: "GitHub is half configured: set GITHUB_APP_ID, GITHUB_PRIVATE_KEY and GITHUB_WEBHOOK_SECRET together, or none.",
      });
    }
  });

export type Env = z.output<typeof envSchema>;

export interface Config {
  dataDir: string;
  queue:
    | { driver: "sqlite"; path: string }
    | { driver: "sqs"; queueUrl: string; dlqUrl?: string; region?: string; endpoint?: string };
  store:
    | { driver: "local"; dir: string }
    | { driver: "s3"; bucket: string; prefix: string; region?: string; endpoint?: string };
  /** Base of result URLs (local store) and links in replies. */
  publicUrl: string;
  /** false when publicUrl was derived from the port (serve adjusts it to the port it binds). */
  publicUrlExplicit: boolean;
  port: number;
  modelsDir: string;
  models: (typeof MODELS)[number][];
  backend: "auto" | "cpu" | "cuda";
  /** Weight format of the GPU text encoder (umT5); auto lets the engine pick by GPU memory. */
  textEncoderWeights: "auto" | "bf16" | "int8";
  discord?: { applicationId: string; publicKey: string; botToken?: string; apiBase?: string };
  github?: {
    appId: string;
    privateKey: string;
    webhookSecret: string;
    apiBase?: string;
    allowedAssociations?: (typeof AUTHOR_ASSOCIATIONS)[number][];
    allowedLogins?: string[];
    allowedRepos?: string[];
  };
  /** Abuse limits shared by every frontend (bot/limits.ts), from TURBOWAN_LIMITS(_FILE). */
  limits?: LimitsConfig;
  logLevel: Env["LOG_LEVEL"];
}

const commaList = (v: string | undefined) => (v === undefined ? undefined : v.split(",").map((x) => x.trim()).filter(Boolean));

/** TURBOWAN_LIMITS (inline JSON) or TURBOWAN_LIMITS_FILE (a JSON file), checked against bot/limits.ts's schema. */
function limitsFromEnv(e: Env): { limits?: LimitsConfig; problems: string[] } {
  const source = e.TURBOWAN_LIMITS ? "TURBOWAN_LIMITS" : e.TURBOWAN_LIMITS_FILE ? "TURBOWAN_LIMITS_FILE" : undefined;
  if (!source) return { problems: [] };
  let text: string;
  try {
    text = e.TURBOWAN_LIMITS ?? readFileSync(e.TURBOWAN_LIMITS_FILE!, "utf8");
  } catch (err) {
    return { problems: [`set TURBOWAN_LIMITS_FILE to a readable JSON file (${(err as Error).message}).`] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { problems: [`${source} is not valid JSON (${(err as Error).message}); see docs/frontends.md for the shape.`] };
  }
  const parsed = limitsConfigSchema.safeParse(json);
  if (!parsed.success)
    return { problems: parsed.error.issues.map((i) => `${source}: ${i.path.join(".") || "(root)"}: ${i.message}`) };
  return { limits: parsed.data, problems: [] };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Validates the environment; throws ConfigError listing each thing to set. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset" (docker/compose files often pass VAR= ).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `- ${i.message}`);
    throw new ConfigError(`turbowan configuration is invalid:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  const { limits, problems } = limitsFromEnv(e);
  const associations = commaList(e.GITHUB_ALLOWED_ASSOCIATIONS)?.map((a) => a.toUpperCase());
  const badAssociation = associations?.find((a) => !(AUTHOR_ASSOCIATIONS as readonly string[]).includes(a));
  if (badAssociation) problems.push(`set GITHUB_ALLOWED_ASSOCIATIONS to a comma list of ${AUTHOR_ASSOCIATIONS.join(", ")} (got ${badAssociation}).`);
  if (problems.length) throw new ConfigError(`turbowan configuration is invalid:\n${problems.map((p) => `- ${p}`).join("\n")}`);
  const dataDir = path.resolve(e.TURBOWAN_DATA_DIR);
  return {
    dataDir,
    queue:
      e.TURBOWAN_QUEUE === "sqs"
        ? {
            driver: "sqs",
            queueUrl: e.TURBOWAN_SQS_QUEUE_URL!,
            dlqUrl: e.TURBOWAN_SQS_DLQ_URL,
            region: e.AWS_REGION,
            endpoint: e.AWS_ENDPOINT_URL,
          }
        : { driver: "sqlite", path: path.join(dataDir, "queue.sqlite") },
    store:
      e.TURBOWAN_STORE === "s3"
        ? { driver: "s3", bucket: e.TURBOWAN_S3_BUCKET!, prefix: e.TURBOWAN_S3_PREFIX, region: e.AWS_REGION, endpoint: e.AWS_ENDPOINT_URL }
        : { driver: "local", dir: path.join(dataDir, "store") },
    publicUrl: (e.TURBOWAN_PUBLIC_URL ?? `http://localhost:${e.TURBOWAN_PORT}`).replace(/\/+$/, ""),
    publicUrlExplicit: e.TURBOWAN_PUBLIC_URL !== undefined,
    port: e.TURBOWAN_PORT,
    modelsDir: path.resolve(e.TURBOWAN_MODELS_DIR),
    models: e.TURBOWAN_MODELS,
    backend: e.TURBOWAN_BACKEND,
    textEncoderWeights: e.TURBOWAN_TEXT_ENCODER_WEIGHTS,
    discord:
      e.DISCORD_APPLICATION_ID && e.DISCORD_PUBLIC_KEY
        ? { applicationId: e.DISCORD_APPLICATION_ID, publicKey: e.DISCORD_PUBLIC_KEY, botToken: e.DISCORD_BOT_TOKEN, apiBase: e.DISCORD_API_BASE }
        : undefined,
    github:
      e.GITHUB_APP_ID && e.GITHUB_PRIVATE_KEY && e.GITHUB_WEBHOOK_SECRET
        ? {
            appId: e.GITHUB_APP_ID,
            privateKey: e.GITHUB_PRIVATE_KEY,
            webhookSecret: e.GITHUB_WEBHOOK_SECRET,
            apiBase: e.GITHUB_API_BASE,
            ...(associations ? { allowedAssociations: associations as (typeof AUTHOR_ASSOCIATIONS)[number][] } : {}),
            ...(e.GITHUB_ALLOWED_LOGINS ? { allowedLogins: commaList(e.GITHUB_ALLOWED_LOGINS) } : {}),
            ...(e.GITHUB_ALLOWED_REPOS ? { allowedRepos: commaList(e.GITHUB_ALLOWED_REPOS) } : {}),
          }
        : undefined,
    limits,
    logLevel: e.LOG_LEVEL,
  };
}
