// Abuse and safety limits applied by every frontend before a job is submitted: allowlists,
// prompt and image size, per-scope caps on resolution and frames, concurrent-job caps (with the
// queue position in the message) and token-bucket rate limits per user and per guild/repo.
import { z } from "zod";
import { IMAGE_MAX_BYTES, MAX_FRAMES, PROMPT_MAX_CHARS, RESOLUTIONS, type Requester } from "../functions/jobs/model.js";
import type { JobService } from "../functions/jobs/service.js";
import type { ParsedCommand } from "./grammar.js";

const bucketSchema = z.object({
  /** Requests allowed in a burst. */
  burst: z.number().int().min(1),
  /** Tokens given back per minute. */
  perMinute: z.number().positive(),
});

const scopeCapsSchema = z.object({
  maxResolution: z.enum(RESOLUTIONS).optional(),
  maxFrames: z.number().int().min(5).max(MAX_FRAMES).optional(),
  maxConcurrent: z.number().int().min(1).optional(),
});
export type ScopeCaps = z.infer<typeof scopeCapsSchema>;

export const limitsConfigSchema = z.object({
  userRate: bucketSchema.default({ burst: 5, perMinute: 1 }),
  scopeRate: bucketSchema.default({ burst: 30, perMinute: 10 }),
  maxConcurrentPerUser: z.number().int().min(1).default(2),
  maxConcurrentPerScope: z.number().int().min(1).default(10),
  maxPromptChars: z.number().int().min(1).max(PROMPT_MAX_CHARS).default(PROMPT_MAX_CHARS),
  maxImageBytes: z.number().int().min(1).max(IMAGE_MAX_BYTES).default(IMAGE_MAX_BYTES),
  /** Defaults for every guild/repo; `scopes` overrides per guild id or owner/repo. */
  maxResolution: z.enum(RESOLUTIONS).default("720p"),
  maxFrames: z.number().int().min(5).max(MAX_FRAMES).default(MAX_FRAMES),
  scopes: z.record(z.string(), scopeCapsSchema).default({}),
  /** When set, only these user ids/logins may start jobs. */
  allowUsers: z.array(z.string()).optional(),
  /** When set, only these guild ids / owner/repo (or owner/*) may start jobs. */
  allowScopes: z.array(z.string()).optional(),
});
export type LimitsConfig = z.infer<typeof limitsConfigSchema>;
export type LimitsConfigInput = z.input<typeof limitsConfigSchema>;

export type LimitCheck = { ok: true } | { ok: false; error: string };

export interface Limits {
  /** Checks everything and, when allowed, spends one token of each rate bucket. */
  admit(requester: Requester, command: ParsedCommand): Promise<LimitCheck>;
  /** For images whose size is only known after download. */
  checkImageBytes(bytes: number): LimitCheck;
  /** Allowlists alone (used before any parsing, e.g. for silent ignores). */
  isAllowed(requester: Requester): boolean;
}

class TokenBucket {
  constructor(
    private tokens: number,
    private updatedAt: number,
  ) {}
  /** ms until a token is available after refilling to `now`; 0 = one is available. */
  waitMs(now: number, rate: { burst: number; perMinute: number }): number {
    this.tokens = Math.min(rate.burst, this.tokens + ((now - this.updatedAt) / 60_000) * rate.perMinute);
    this.updatedAt = now;
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / rate.perMinute) * 60_000);
  }
  take(): void {
    this.tokens -= 1;
  }
}

const ACTIVE = ["queued", "running"] as const;

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
}

function seconds(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

export function createLimits(
  input: LimitsConfigInput | undefined,
  deps: { jobs: Pick<JobService, "list">; clock?: () => number },
): Limits {
  const config = limitsConfigSchema.parse(input ?? {});
  const now = deps.clock ?? Date.now;
  const userBuckets = new Map<string, TokenBucket>();
  const scopeBuckets = new Map<string, TokenBucket>();

  const scopeKey = (r: Requester) => (r.scope ? `${r.platform}:${r.scope}` : undefined);
  const capsFor = (r: Requester): Required<Pick<ScopeCaps, "maxResolution" | "maxFrames">> & ScopeCaps => ({
    maxResolution: config.maxResolution,
    maxFrames: config.maxFrames,
    ...(r.scope ? config.scopes[r.scope] : undefined),
  });

  function isAllowed(r: Requester): boolean {
    if (config.allowUsers && !config.allowUsers.includes(r.id)) return false;
    if (config.allowScopes) {
      if (!r.scope) return false;
      const owner = r.scope.split("/")[0];
      if (!config.allowScopes.includes(r.scope) && !config.allowScopes.includes(`${owner}/*`)) return false;
    }
    return true;
  }

  function checkImageBytes(bytes: number): LimitCheck {
    return bytes > config.maxImageBytes
      ? { ok: false, error: `The image is ${mib(bytes)}; images up to ${mib(config.maxImageBytes)} are accepted.` }
      : { ok: true };
  }

  async function activeJobs() {
    const lists = await Promise.all(ACTIVE.map((status) => deps.jobs.list({ status, limit: 1000 })));
    return lists.flat();
  }

  async function admit(r: Requester, command: ParsedCommand): Promise<LimitCheck> {
    if (!isAllowed(r)) return { ok: false, error: "turbowan is not enabled for you here; ask an admin to add you to the allowlist." };
    if (command.prompt.length > config.maxPromptChars) {
      return { ok: false, error: `The prompt is too long: keep it under ${config.maxPromptChars} characters.` };
    }
    if (command.image?.size !== undefined) {
      const image = checkImageBytes(command.image.size);
      if (!image.ok) return image;
    }
    const caps = capsFor(r);
    if (command.options.resolution === "720p" && caps.maxResolution === "480p") {
      return { ok: false, error: "720p is not enabled here; use resolution 480p." };
    }
    if (command.options.frames > caps.maxFrames) {
      return { ok: false, error: `frames is capped at ${caps.maxFrames} here; choose ${caps.maxFrames} or fewer.` };
    }

    const active = await activeJobs();
    const mine = active.filter((j) => j.request.requester.platform === r.platform && j.request.requester.id === r.id);
    if (mine.length >= config.maxConcurrentPerUser) {
      // Queue position of the caller's next job: 1-based among queued jobs, oldest first.
      const queued = active.filter((j) => j.status === "queued").sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      const firstMine = queued.findIndex((j) => mine.includes(j));
      const where = firstMine >= 0 ? ` (your next one is #${firstMine + 1} in the queue)` : " (they are rendering now)";
      return {
        ok: false,
        error: `You already have ${mine.length} video${mine.length > 1 ? "s" : ""} in progress${where}; wait for one to finish or cancel one, then try again.`,
      };
    }
    const scopeCap = caps.maxConcurrent ?? config.maxConcurrentPerScope;
    if (r.scope) {
      const inScope = active.filter((j) => j.request.requester.platform === r.platform && j.request.requester.scope === r.scope);
      if (inScope.length >= scopeCap) {
        return { ok: false, error: `This ${r.platform === "github" ? "repository" : "server"} already has ${inScope.length} videos in progress (the limit is ${scopeCap}); try again when one finishes.` };
      }
    }

    const t = now();
    const userBucket = bucket(userBuckets, `${r.platform}:${r.id}`, config.userRate.burst, t);
    const userWait = userBucket.waitMs(t, config.userRate);
    if (userWait > 0) {
      return { ok: false, error: `Slow down: you can start ${config.userRate.burst} videos in a row, then ${config.userRate.perMinute} a minute. Try again in ${seconds(userWait)}.` };
    }
    const sk = scopeKey(r);
    const scopeBucket = sk ? bucket(scopeBuckets, sk, config.scopeRate.burst, t) : undefined;
    const scopeWait = scopeBucket?.waitMs(t, config.scopeRate) ?? 0;
    if (scopeWait > 0) {
      return { ok: false, error: `This ${r.platform === "github" ? "repository" : "server"} is starting videos too fast. Try again in ${seconds(scopeWait)}.` };
    }
    userBucket.take();
    scopeBucket?.take();
    return { ok: true };
  }

  return { admit, checkImageBytes, isAllowed };
}

function bucket(map: Map<string, TokenBucket>, key: string, burst: number, now: number): TokenBucket {
  let b = map.get(key);
  if (!b) {
    b = new TokenBucket(burst, now);
    map.set(key, b);
  }
  return b;
}
