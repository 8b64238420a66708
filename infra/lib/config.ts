// Deployment settings, read from CDK context (`cdk deploy -c key=value`, or infra/cdk.json) and
// validated with messages that say what to set. Nothing here names an account or a secret value.
import { z } from "zod";
import { MODELS } from "../../functions/jobs/model.js";

export type ModelName = (typeof MODELS)[number];

/** Memory of GPU instance types whose GPUs the image is built for (sm_90a: p5/p5en; sm_89: g6e
 * L40S, g6 L4), GiB (the task reserves most of it: mmap'd
 * checkpoints and pinned staging buffers live in host memory). */
export const INSTANCE_MEMORY_GIB: Record<string, number> = {
  "g6e.xlarge": 32,
  "g6e.2xlarge": 64,
  "g6e.4xlarge": 128,
  "g6e.8xlarge": 256,
  "g6.xlarge": 16,
  "g6.2xlarge": 32,
  "p5.4xlarge": 256,
  "p5.48xlarge": 2048,
  "p5en.48xlarge": 2048,
};

const workerSchema = z.object({
  /** EC2 instance type of this model's capacity provider (one GPU task per instance). */
  instanceType: z.string().regex(/^[a-z0-9-]+\.[a-z0-9]+$/, { error: "instanceType must look like g6e.xlarge or p5.4xlarge" }),
  /** Tasks kept running when idle: 0 scales to zero (cold start on the next job), 1 keeps one warm. */
  minTasks: z.number().int().min(0),
  maxTasks: z.number().int().min(1),
  /** Backlog per task the target-tracking policy holds: acceptable queue wait ÷ seconds per job. */
  targetBacklogPerTask: z.number().positive(),
  /** Task memory reservation; default 85% of the instance type's memory. */
  memoryMiB: z.number().int().positive().optional(),
  /** Use TurboDiffusion's int8 (-quant) checkpoints (GPUs under ~40 GB). */
  quant: z.boolean(),
  /** Root volume: image + weights cache. */
  diskGiB: z.number().int().min(60),
  /** Spot instances (often 60–70% cheaper; a reclaimed instance drains and its job is retried). */
  spot: z.boolean(),
});
export type WorkerSettings = z.infer<typeof workerSchema>;

/** Defaults per model: a 1.3B job fits a 48 GB L40S; the 14B models want an 80 GB H100. */
export const DEFAULT_WORKERS: Record<ModelName, WorkerSettings> = {
  "wan2.1-t2v-1.3b": { instanceType: "g6e.xlarge", minTasks: 0, maxTasks: 4, targetBacklogPerTask: 6, quant: false, diskGiB: 150, spot: false },
  "wan2.1-t2v-14b": { instanceType: "p5.4xlarge", minTasks: 0, maxTasks: 2, targetBacklogPerTask: 3, quant: false, diskGiB: 250, spot: false },
  "wan2.2-i2v-a14b": { instanceType: "p5.4xlarge", minTasks: 0, maxTasks: 2, targetBacklogPerTask: 2, quant: false, diskGiB: 300, spot: false },
  demo: { instanceType: "g6e.xlarge", minTasks: 0, maxTasks: 1, targetBacklogPerTask: 10, quant: false, diskGiB: 60, spot: false },
};

export interface DeploySettings {
  models: ModelName[];
  workers: Record<string, WorkerSettings>;
  /** S3 prefix of job records, markers, inputs and results (TURBOWAN_S3_PREFIX). */
  jobsPrefix: string;
  /** S3 prefix where `aws s3 sync models/` puts checkpoints. */
  modelsPrefix: string;
  /** Days before job objects expire. */
  artifactExpiryDays: number;
  /** A prefix under <jobsPrefix>files/ (the store's artifacts) made publicly readable; undefined = fully private. */
  publicReadPrefix?: string;
  /** Name of the Secrets Manager secret holding the Discord/GitHub variables (created beforehand). */
  secretName: string;
  /** TURBOWAN_PUBLIC_URL for links in replies (the function URL or your domain). */
  publicUrl?: string;
  /** Email for alarm notifications. */
  alarmEmail?: string;
  /** Alarm when the oldest job waited this long (covers a cold start from zero: instance + image + load). */
  maxJobAgeS: number;
  /** Minutes with an empty queue (nothing visible, in flight or delayed) before scaling to zero. */
  idleMinutesToZero: number;
  /** Prebuilt images (e.g. in your ECR); otherwise CDK builds container/Dockerfile{,.ingress}. */
  workerImage?: string;
  ingressImage?: string;
  /** Existing VPC; otherwise a new one with public subnets only (no NAT gateway charges). */
  vpcId?: string;
  logLevel: string;
}

const contextSchema = z.object({
  models: z
    .string()
    .default("wan2.1-t2v-1.3b")
    .transform((s) => s.split(",").map((m) => m.trim()).filter(Boolean))
    .pipe(z.array(z.enum(MODELS, { error: `context "models" must be a comma list of: ${MODELS.join(", ")}` })).min(1)),
  workers: z.record(z.string(), workerSchema.partial()).default({}),
  jobsPrefix: z.string().regex(/^([a-z0-9-]+\/)+$/, { error: 'jobsPrefix must look like "jobs/"' }).default("jobs/"),
  modelsPrefix: z.string().regex(/^([a-z0-9-]+\/)+$/, { error: 'modelsPrefix must look like "models/"' }).default("models/"),
  artifactExpiryDays: z.coerce.number().int().min(1).default(14),
  publicReadPrefix: z.string().optional(),
  secretName: z.string().min(1).default("turbowan/app"),
  publicUrl: z.url({ error: "publicUrl must be a full https:// URL" }).optional(),
  alarmEmail: z.email({ error: "alarmEmail must be an email address" }).optional(),
  maxJobAgeS: z.coerce.number().int().min(60).default(600),
  idleMinutesToZero: z.coerce.number().int().min(1).default(15),
  workerImage: z.string().optional(),
  ingressImage: z.string().optional(),
  vpcId: z.string().optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
});

/** `context` is what `app.node.tryGetContext` returns per key (strings from -c, objects from cdk.json). */
export function parseSettings(context: Record<string, unknown>): DeploySettings {
  const raw = Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined && v !== ""));
  if (typeof raw.workers === "string") {
    try {
      raw.workers = JSON.parse(raw.workers);
    } catch {
      throw new Error(`context "workers" must be JSON, e.g. -c 'workers={"wan2.1-t2v-14b":{"instanceType":"p5.4xlarge","maxTasks":2}}'`);
    }
  }
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`turbowan deploy settings are invalid:\n${parsed.error.issues.map((i) => `- ${i.path.join(".")}: ${i.message}`).join("\n")}`);
  }
  const c = parsed.data;
  for (const name of Object.keys(c.workers)) {
    if (!c.models.includes(name as ModelName)) throw new Error(`context "workers" configures ${name}, which is not in "models" (${c.models.join(",")})`);
  }
  const workers: Record<string, WorkerSettings> = {};
  for (const model of c.models) {
    const w = { ...DEFAULT_WORKERS[model], ...c.workers[model] };
    if (w.minTasks > w.maxTasks) throw new Error(`${model}: minTasks (${w.minTasks}) is above maxTasks (${w.maxTasks})`);
    if (w.memoryMiB === undefined && INSTANCE_MEMORY_GIB[w.instanceType] === undefined) {
      throw new Error(`${model}: set workers.${model}.memoryMiB for instance type ${w.instanceType} (its memory is not in infra/lib/config.ts)`);
    }
    workers[model] = w;
  }
  // The S3 store keeps records/ and markers/ (interaction tokens, idempotency keys) beside files/
  // (results and input images); only files/ may ever be public.
  if (c.publicReadPrefix !== undefined && !c.publicReadPrefix.startsWith(`${c.jobsPrefix}files/`)) {
    throw new Error(`publicReadPrefix (${c.publicReadPrefix}) must lie under ${c.jobsPrefix}files/, the store's artifacts; records and markers must stay private`);
  }
  return { ...c, workers };
}

export function taskMemoryMiB(w: WorkerSettings): number {
  return w.memoryMiB ?? Math.floor(INSTANCE_MEMORY_GIB[w.instanceType]! * 1024 * 0.85);
}

/** SQS queue names allow letters, digits, - and _ only. */
export function queueSlug(model: string): string {
  return model.replace(/[^A-Za-z0-9-]/g, "_");
}
