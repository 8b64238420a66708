// `turbowan fetch-weights <model>...`: downloads a model's checkpoints into TURBOWAN_MODELS_DIR with
// resume and sha256 verification. Used by the container entrypoint at start, at image build time
// (MODELS build arg), and on workstations.
import { z } from "zod";
import { MODELS } from "../../jobs/model.js";
import { fetchModel } from "../../weights/fetch-model.js";
import { isModelName, type ModelName } from "../../weights/manifest.js";
import { sourceFromSpec } from "../../weights/sources.js";
import { parseFlags, UsageError, validate, type Command } from "../command.js";

const usage = `usage: turbowan fetch-weights [flags] <model>...

Downloads each model's files (dit.pth [dit-low.pth], vae.pth, umt5.pth, tokenizer.json) into
<models-dir>/<model>/, resuming interrupted transfers and verifying every file's sha256; a file
that does not match is deleted and the command fails. Files already verified are skipped.
Writes <model>/SHA256SUMS, so the folder can be uploaded to S3 or a mirror and verified there.

models: ${MODELS.filter((m) => m !== "demo").join(", ")}  (or "all"; TURBOWAN_MODELS when none is given)

flags:
  --from <source>       hf (Hugging Face, default; HF_TOKEN and HF_ENDPOINT are honoured),
                        https://<mirror>/<base> or s3://<bucket>/<prefix> (both need <model>/SHA256SUMS)
                        default: TURBOWAN_WEIGHTS_FROM or hf
  --models-dir <dir>    default: TURBOWAN_MODELS_DIR or ./models
  --quant               TurboDiffusion's int8 (-quant) DiT checkpoints, for GPUs under ~40 GB
  --verify              re-hash files already present instead of trusting the last verification
  --connections <n>     parallel ranged connections per file where the server allows (default 8)
  --quiet               no progress lines`;

const flagsSchema = z.object({
  from: z.string().optional(),
  "models-dir": z.string().min(1),
  quant: z.boolean(),
  verify: z.boolean(),
  quiet: z.boolean(),
  connections: z.number({ error: "--connections must be a number." }).int().min(1).max(64, { error: "--connections must be between 1 and 64." }),
});

export const fetchWeights: Command = {
  name: "fetch-weights",
  summary: "download model checkpoints with resume and sha256 verification",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      {
        from: { type: "string" },
        "models-dir": { type: "string" },
        quant: { type: "boolean" },
        verify: { type: "boolean" },
        quiet: { type: "boolean" },
        connections: { type: "string" },
      },
      true,
    );
    const flags = validate(flagsSchema, {
      from: values.from ?? (process.env.TURBOWAN_WEIGHTS_FROM || undefined),
      "models-dir": values["models-dir"] ?? (process.env.TURBOWAN_MODELS_DIR || "./models"),
      quant: values.quant ?? false,
      verify: values.verify ?? false,
      quiet: values.quiet ?? false,
      connections: values.connections === undefined ? 8 : Number(values.connections),
    });
    const models = resolveModels(positionals, process.env.TURBOWAN_MODELS);
    let source;
    try {
      source = sourceFromSpec(flags.from);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const log = (line: string) => console.error(`fetch-weights: ${line}`);
    const progress = flags.quiet ? undefined : progressPrinter();
    for (const model of models) {
      const files = await fetchModel(model, {
        modelsDir: flags["models-dir"],
        source,
        quant: flags.quant,
        verify: flags.verify,
        connections: flags.connections,
        log,
        onProgress: progress && ((file, bytes, total) => progress(`${model}/${file}`, bytes, total)),
      });
      const fetched = files.filter((f) => f.status !== "present").length;
      log(`${model}: ${files.length} files verified (${fetched} fetched) in ${flags["models-dir"]}/${model}`);
    }
    return 0;
  },
};

export function resolveModels(positionals: string[], envModels: string | undefined): ModelName[] {
  const names = positionals.length ? positionals : (envModels ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError("name a model to fetch (or set TURBOWAN_MODELS).\n\n" + usage);
  const all = names.includes("all") ? MODELS.filter((m) => m !== "demo") : names;
  for (const name of all) {
    if (!isModelName(name)) throw new UsageError(`unknown model "${name}": use one of ${MODELS.join(", ")}`);
  }
  return [...new Set(all)] as ModelName[];
}

/** One line per file every few seconds: percentages for logs, not a redrawn bar (containers log lines). */
function progressPrinter() {
  const last = new Map<string, number>();
  return (file: string, bytes: number, total: number | undefined) => {
    const now = Date.now();
    if (now - (last.get(file) ?? 0) < 5000 && bytes !== total) return;
    last.set(file, now);
    const gib = (n: number) => (n / 1024 ** 3).toFixed(2);
    console.error(`fetch-weights: ${file} ${gib(bytes)}${total ? ` / ${gib(total)} GiB (${((100 * bytes) / total).toFixed(0)}%)` : " GiB"}`);
  };
}
