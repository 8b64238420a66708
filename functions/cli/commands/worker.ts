// `turbowan worker`: a queue consumer only, for GPU containers. SIGTERM stops polling, lets the
// running job finish within --grace seconds, else releases it back to the queue.
import { z } from "zod";
import { loadConfig } from "../../config.js";
import { createLogger } from "../../log.js";
import { ecsTaskProtection } from "../../cloud/ecs-protection.js";
import { num, parseFlags, validate, type Command } from "../command.js";
import { combineEvents, openCore, platformNotifier, workerFor } from "../stack.js";
import { onShutdown } from "../shutdown.js";
import { heartbeatFile } from "../heartbeat-file.js";
import path from "node:path";

const usage = `usage: turbowan worker [flags]

Takes jobs for TURBOWAN_MODELS from the queue (TURBOWAN_QUEUE), runs them on this machine's engine,
stores the results (TURBOWAN_STORE) and reports to the requester's platform.

flags:
  --grace <seconds>        on SIGTERM, how long the running job may finish before it is released (default 90)
  --max-resident <n>       models kept loaded at once; others are swapped in LRU order (default 1)
  --visibility <seconds>   queue lease length (default 120; heartbeats extend it while a job runs)
  --heartbeat <seconds>    lease heartbeat interval (default 30; must be below --visibility)
  --lazy                   load the model when the first job comes (default: load TURBOWAN_MODELS' first
                           model at start, so a fresh worker is warm before its first job)`;

const flagsSchema = z
  .object({
    grace: z.number({ error: "--grace must be a number of seconds." }).min(0).default(90),
    "max-resident": z.number({ error: "--max-resident must be a number." }).int().min(1, { error: "--max-resident must be at least 1." }).default(1),
    visibility: z.number({ error: "--visibility must be a number of seconds." }).int().min(2).optional(),
    heartbeat: z.number({ error: "--heartbeat must be a number of seconds." }).min(0.1).optional(),
  })
  .refine((f) => f.heartbeat === undefined || f.visibility === undefined || f.heartbeat < f.visibility, {
    error: "--heartbeat must be below --visibility, so the lease never lapses between heartbeats.",
  });

export const worker: Command = {
  name: "worker",
  summary: "consume the queue and run jobs on this machine's engine (GPU containers)",
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      grace: { type: "string" },
      "max-resident": { type: "string" },
      visibility: { type: "string" },
      heartbeat: { type: "string" },
      lazy: { type: "boolean" },
    });
    const flags = validate(flagsSchema, {
      grace: num(values.grace),
      "max-resident": num(values["max-resident"]),
      visibility: num(values.visibility),
      heartbeat: num(values.heartbeat),
    });
    const config = loadConfig();
    const log = createLogger({ level: config.logLevel, name: "turbowan-worker" });
    const core = await openCore(config, { visibilityTimeoutS: flags.visibility });
    const notifier = await platformNotifier(config, core.store, log);
    const events = combineEvents(log, notifier);
    const w = workerFor(config, core, events, log, {
      graceMs: flags.grace * 1000,
      maxResidentModels: flags["max-resident"],
      visibilityTimeoutS: flags.visibility,
      heartbeatIntervalS: flags.heartbeat,
      preload: !values.lazy,
    });
    // On ECS, keep the task from being scaled in while it holds a job.
    const protection = ecsTaskProtection({ warn: (m) => log.warn(m) });
    w.consumer.on("message_received", () => void protection.acquire());
    w.consumer.on("message_processed", () => void protection.release());
    // The container's health check reads this file's age (container/healthcheck.sh).
    const beat = heartbeatFile(path.join(config.dataDir, "worker.heartbeat"), log);
    w.consumer.on("alive", beat.touch);
    w.start();
    log.info({ models: config.models, queue: config.queue.driver, store: config.store.driver }, "worker started");
    await onShutdown(log);
    await w.stop({ graceMs: flags.grace * 1000 });
    beat.stop();
    await notifier?.idle();
    await protection.release();
    await core.close();
    log.info("worker stopped");
    return 0;
  },
};
