// `turbowan serve` (= `npm start`): the whole local stack in one process — web console and API,
// a worker with a warm engine, the embedded SQLite queue and the local store under ./data.
import { z } from "zod";
import { loadConfig } from "../../config.js";
import { createLogger } from "../../log.js";
import { num, parseFlags, validate, type Command } from "../command.js";
import { startLocalStack } from "../stack.js";
import { onShutdown } from "../shutdown.js";

const usage = `usage: turbowan serve [flags]

Starts the local stack: the web console and API on http://localhost:8787, a worker, the embedded
queue and the store under TURBOWAN_DATA_DIR (./data).

flags:
  --port <n>         port (default TURBOWAN_PORT or 8787; 0 picks a free one)
  --host <addr>      address to bind (default 127.0.0.1; the console has no login, so keep it local)
  --no-worker        serve the console and API only (workers run elsewhere on the same queue)
  --grace <seconds>  on Ctrl-C/SIGTERM, how long the running job may finish (default 60)

environment: see docs/local.md (TURBOWAN_DATA_DIR, TURBOWAN_MODELS, TURBOWAN_BACKEND, ...).`;

const flagsSchema = z.object({
  port: z.number({ error: "--port must be a number." }).int().min(0).max(65535, { error: "--port must be 0-65535." }).optional(),
  host: z.string().min(1).default("127.0.0.1"),
  "no-worker": z.boolean().default(false),
  grace: z.number({ error: "--grace must be a number of seconds." }).min(0).default(60),
});

export const serve: Command = {
  name: "serve",
  summary: "run the local stack: web console + API + worker + embedded queue and store",
  usage,
  async run(argv) {
    const { values } = parseFlags(argv, {
      port: { type: "string" },
      host: { type: "string" },
      "no-worker": { type: "boolean" },
      grace: { type: "string" },
    });
    const flags = validate(flagsSchema, { ...values, port: num(values.port), grace: num(values.grace) });
    const config = loadConfig();
    if (flags.port !== undefined) {
      config.port = flags.port;
      if (!config.publicUrlExplicit) config.publicUrl = `http://localhost:${flags.port}`;
    }
    const log = createLogger({ level: config.logLevel, name: "turbowan" });
    const stack = await startLocalStack(config, { log, hostname: flags.host, worker: !flags["no-worker"] });
    log.info({ url: stack.url, models: config.models, dataDir: config.dataDir }, "turbowan is serving");
    process.stderr.write(`\nturbowan console: ${stack.url}\n(models: ${config.models.join(", ")}; data: ${config.dataDir}; Ctrl-C to stop)\n\n`);
    await onShutdown(log);
    await stack.close({ graceMs: flags.grace * 1000 });
    log.info("stopped");
    return 0;
  },
};
