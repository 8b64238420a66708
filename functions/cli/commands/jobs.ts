// `turbowan jobs list|show|cancel`: read and cancel jobs in the configured store and queue.
import { z } from "zod";
import { loadConfig } from "../../config.js";
import { createJobService } from "../../jobs/job-service.js";
import { JOB_STATUSES, type JobRecord } from "../../jobs/model.js";
import { num, parseFlags, UsageError, validate, type Command } from "../command.js";
import { openCore } from "../stack.js";

const usage = `usage: turbowan jobs <list|show|cancel> [flags]

  turbowan jobs list [--status <s>] [--limit <n>] [--json]   most recent first
  turbowan jobs show <id> [--json]                            one job's record and result URLs
  turbowan jobs cancel <id>                                   cancel a queued job, or stop a running one

status: ${JOB_STATUSES.join(" | ")}. Reads TURBOWAN_DATA_DIR / TURBOWAN_QUEUE / TURBOWAN_STORE like serve.`;

const listSchema = z.object({
  status: z.enum(JOB_STATUSES, { error: `--status must be one of ${JOB_STATUSES.join(", ")}.` }).optional(),
  limit: z.number({ error: "--limit must be a number." }).int().min(1).max(1000).default(20),
});

function line(job: JobRecord): string {
  const o = job.request.options;
  const progress = job.progress && job.status === "running" ? ` ${job.progress.stage} ${job.progress.step}/${job.progress.total}` : "";
  const prompt = job.request.prompt.length > 50 ? `${job.request.prompt.slice(0, 49)}…` : job.request.prompt;
  return `${job.id}  ${job.status.padEnd(9)}${progress}  ${o.model} ${o.resolution} ${o.frames}f  ${job.createdAt}  ${JSON.stringify(prompt)}`;
}

export const jobs: Command = {
  name: "jobs",
  summary: "list, show or cancel jobs",
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseFlags(
      rest,
      { status: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } },
      true,
    );
    if (sub !== "list" && sub !== "show" && sub !== "cancel") throw new UsageError("say list, show or cancel.");
    const config = loadConfig();
    const core = await openCore(config);
    const service = createJobService({ queue: core.queue, store: core.store });
    try {
      if (sub === "list") {
        const f = validate(listSchema, { status: values.status, limit: num(values.limit) });
        const list = await service.list({ limit: f.limit, ...(f.status ? { status: f.status } : {}) });
        if (values.json) console.log(JSON.stringify(list, null, 2));
        else if (list.length === 0) console.log("no jobs");
        else for (const job of list) console.log(line(job));
        return 0;
      }
      const id = positionals[0];
      if (!id) throw new UsageError(`give the job id: turbowan jobs ${sub} <id>`);
      if (sub === "show") {
        const job = await service.get(id);
        if (!job) {
          console.error(`no job ${id}`);
          return 1;
        }
        const urls: Record<string, string> = {};
        for (const [name, key] of Object.entries(job.artifacts)) if (typeof key === "string") urls[name] = await core.store.url(key);
        if (values.json) console.log(JSON.stringify({ ...job, urls }, null, 2));
        else {
          console.log(line(job));
          if (job.error) console.log(`error: ${job.error}`);
          for (const [name, url] of Object.entries(urls)) console.log(`${name}: ${url}`);
          console.log(`seed ${job.seed}, attempts ${job.attempts}, timings ${JSON.stringify(job.timingsMs)}`);
        }
        return 0;
      }
      const job = await service.cancel(id, "cli");
      if (!job) {
        console.error(`no job ${id}`);
        return 1;
      }
      console.log(job.status === "cancelled" ? `cancelled ${id}` : job.status === "running" ? `cancel requested: ${id} stops at its next step` : `${id} is already ${job.status}`);
      return 0;
    } finally {
      await core.close();
    }
  },
};
