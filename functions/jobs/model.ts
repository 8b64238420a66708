// The job model: what a request is, what a job record holds, what events a job emits.
// Every frontend produces a JobRequest; the queue carries it; the worker writes JobRecords and
// emits JobEvents that the frontends render. Validation messages are short sentences a bot can
// show as they are.
import { z } from "zod";

export const MODELS = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.2-i2v-a14b", "demo"] as const;
/** Which models take which kind of job ("demo" does both). */
export const T2V_MODELS = ["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "demo"] as const satisfies readonly (typeof MODELS)[number][];
export const I2V_MODELS = ["wan2.2-i2v-a14b", "demo"] as const satisfies readonly (typeof MODELS)[number][];
export const RESOLUTIONS = ["480p", "720p"] as const;
export const ASPECTS = ["16:9", "9:16", "1:1", "4:3", "3:4"] as const;
export const ATTENTIONS = ["original", "sla", "sagesla"] as const;
export const PLATFORMS = ["discord", "github", "web", "cli"] as const;

export const PROMPT_MAX_CHARS = 2000;
export const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
export const MAX_FRAMES = 161;

// Control characters other than tab/newline are rejected (they hide text from moderators).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

export const promptSchema = z
  .string({ error: "The prompt must be text." })
  .transform((s) => s.trim())
  .pipe(
    z
      .string()
      .min(1, { error: "The prompt is empty: describe the video you want." })
      .max(PROMPT_MAX_CHARS, { error: `The prompt is too long: keep it under ${PROMPT_MAX_CHARS} characters.` })
      .refine((s) => !CONTROL.test(s), { error: "The prompt contains control characters; remove them." }),
  );

/** Where the result goes back to. Each platform carries what its renderer needs. */
export const replyToSchema = z.discriminatedUnion("platform", [
  z.object({
    platform: z.literal("discord"),
    applicationId: z.string(),
    interactionToken: z.string(),
    channelId: z.string(),
    guildId: z.string().optional(),
    /** ms epoch when the interaction token was issued (it is valid for 15 minutes). */
    tokenIssuedAt: z.number(),
    /** From the interaction: the largest attachment the channel accepts, in bytes. */
    attachmentSizeLimit: z.number().optional(),
  }),
  z.object({
    platform: z.literal("github"),
    installationId: z.number(),
    owner: z.string(),
    repo: z.string(),
    issueNumber: z.number(),
    commentId: z.number(),
  }),
  z.object({ platform: z.literal("web") }),
  z.object({ platform: z.literal("cli") }),
]);
export type ReplyTo = z.infer<typeof replyToSchema>;

export const requesterSchema = z.object({
  platform: z.enum(PLATFORMS),
  /** Platform user id (Discord user id, GitHub login, "local"). */
  id: z.string().min(1),
  name: z.string().optional(),
  /** Discord guild id or GitHub owner/repo: the unit that rate limits and caps apply to. */
  scope: z.string().optional(),
});
export type Requester = z.infer<typeof requesterSchema>;

const frames = z
  .number({ error: "frames must be a number." })
  .int({ error: "frames must be a whole number." })
  .min(5, { error: "frames must be at least 5." })
  .max(MAX_FRAMES, { error: `frames must be at most ${MAX_FRAMES}.` })
  .refine((n) => (n - 1) % 4 === 0, { error: "frames must be 4k+1 (for example 17, 49 or 81)." });

/** The generation options shared by T2V and I2V, with their defaults. */
export const generationOptionsSchema = z.object({
  model: z.enum(MODELS, { error: `model must be one of ${MODELS.join(", ")}.` }).default("wan2.1-t2v-1.3b"),
  resolution: z.enum(RESOLUTIONS, { error: "resolution must be 480p or 720p." }).default("480p"),
  aspectRatio: z.enum(ASPECTS, { error: `aspect must be one of ${ASPECTS.join(", ")}.` }).default("16:9"),
  frames: frames.default(81),
  steps: z
    .number({ error: "steps must be a number." })
    .int({ error: "steps must be a whole number." })
    .min(1, { error: "steps must be between 1 and 4." })
    .max(4, { error: "steps must be between 1 and 4." })
    .default(4),
  seed: z
    .number({ error: "seed must be a number." })
    .int({ error: "seed must be a whole number." })
    .min(0, { error: "seed must be between 0 and 4294967295." })
    .max(0xffffffff, { error: "seed must be between 0 and 4294967295." })
    .optional(),
  sigmaMax: z
    .number({ error: "sigma_max must be a number." })
    .min(1, { error: "sigma_max must be between 1 and 5000." })
    .max(5000, { error: "sigma_max must be between 1 and 5000." })
    .optional(),
  attention: z.enum(ATTENTIONS, { error: "attention must be original, sla or sagesla." }).default("sagesla"),
  topk: z
    .number({ error: "topk must be a number." })
    .gt(0, { error: "topk must be above 0 and at most 1." })
    .max(1, { error: "topk must be above 0 and at most 1." })
    .default(0.1),
  ode: z.boolean({ error: "ode must be true or false." }).default(false),
});
export type GenerationOptions = z.infer<typeof generationOptionsSchema>;

export const jobRequestSchema = z
  .object({
    kind: z.enum(["t2v", "i2v"]),
    prompt: promptSchema,
    /** Stored artifact key of the validated input image (I2V). */
    imageKey: z.string().min(1).optional(),
    options: generationOptionsSchema,
    replyTo: replyToSchema,
    requester: requesterSchema,
    /** Discord interaction id, GitHub comment id, web request id: one job per key, ever. */
    idempotencyKey: z.string().min(1).max(200),
  })
  .refine((r) => (r.kind === "i2v") === Boolean(r.imageKey), {
    error: "Image-to-video needs an image, and text-to-video takes none.",
  })
  // Caught here rather than in the worker, so every frontend answers at once with the same sentence.
  .superRefine((r, ctx) => {
    const model = r.options.model;
    if (r.kind === "i2v" && !(I2V_MODELS as readonly string[]).includes(model)) {
      ctx.addIssue({ code: "custom", message: `${model} makes videos from text only; for image-to-video use wan2.2-i2v-a14b.` });
    }
    if (r.kind === "t2v" && !(T2V_MODELS as readonly string[]).includes(model)) {
      ctx.addIssue({
        code: "custom",
        message: `${model} animates an image: attach one, or pick wan2.1-t2v-1.3b or wan2.1-t2v-14b for text-to-video.`,
      });
    }
  });
export type JobRequest = z.infer<typeof jobRequestSchema>;
export type JobRequestInput = z.input<typeof jobRequestSchema>;

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobProgress {
  stage: "queued" | "load" | "encode-text" | "encode-image" | "denoise" | "decode" | "encode-video" | "upload";
  step: number;
  total: number;
}

export interface JobArtifacts {
  /** Store keys. */
  video?: string;
  poster?: string;
  preview?: string;
  /** Bytes of the mp4. */
  videoBytes?: number;
}

export interface JobRecord {
  id: string;
  request: JobRequest;
  status: JobStatus;
  /** Seed actually used (set when the job is accepted, so retries reproduce it). */
  seed: number;
  progress?: JobProgress;
  /** Per-stage wall time in ms. */
  timingsMs: Record<string, number>;
  error?: string;
  artifacts: JobArtifacts;
  attempts: number;
  /** Set when someone asked to cancel a running job (the worker stops at the next step). */
  cancelRequestedAt?: string;
  cancelledBy?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
}

/** What the worker tells the requester's frontend. */
export type JobEvent =
  | { type: "queued"; job: JobRecord; position?: number }
  | { type: "started"; job: JobRecord }
  | { type: "progress"; job: JobRecord; progress: JobProgress }
  | { type: "succeeded"; job: JobRecord; urls: { video: string; poster?: string; preview?: string } }
  | { type: "failed"; job: JobRecord; error: string; retryable: boolean }
  | { type: "cancelled"; job: JobRecord };

/** The sink the worker reports through; entry points plug the platform renderers into it. */
export interface JobEvents {
  emit(event: JobEvent): Promise<void>;
}

/** Turns a zod error into one short sentence per problem, for bots to show. */
export function describeValidationError(err: z.ZodError): string {
  return err.issues.map((i) => i.message).join(" ");
}
