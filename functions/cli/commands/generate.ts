// `turbowan generate`: one video straight to a file, on this machine's engine (no queue, no server).
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { validateImage } from "../../jobs/image.js";
import { generationOptionsSchema, promptSchema, type JobProgress } from "../../jobs/model.js";
import { loadConfig } from "../../config.js";
import { createLogger } from "../../log.js";
import { EnginePool } from "../../worker/engine-pool.js";
import { createVideoEncoder } from "../../worker/encoder.js";
import type { StreamedVideo } from "../../worker/job-runner.js";
import type { FrameChunk } from "../../../native/src/types.js";
import { decodeRgb } from "../../worker/worker.js";
import { num, parseFlags, UsageError, validate, type Command } from "../command.js";
import { progressBar } from "../progress.js";

const usage = `usage: turbowan generate [flags] <prompt>

Generates one video on this machine and writes it as an mp4.

flags:
  -o, --out <file>        where to write the mp4 (default: video.mp4)
      --image <file>      start image (PNG/JPEG/WebP): image-to-video
      --model <name>      ${generationOptionsSchema.shape.model.def.innerType.options.join(" | ")} (default: TURBOWAN_MODELS' first, demo)
      --resolution <r>    480p | 720p (default 480p)
      --aspect <a>        16:9 | 9:16 | 1:1 | 4:3 | 3:4 (default 16:9)
      --frames <n>        4k+1 frames, 5-161 (default 81)
      --steps <n>         1-4 sampling steps (default 4)
      --seed <n>          0-4294967295 (default random, printed)
      --sigma-max <x>     initial sigma (default: the model's)
      --attention <a>     original | sla | sagesla (default sagesla)
      --topk <x>          SLA top-k ratio, (0, 1] (default 0.1)
      --ode               deterministic ODE sampler
      --backend <b>       auto | cpu | cuda (default TURBOWAN_BACKEND or auto)
      --quiet             no progress bar

environment: TURBOWAN_MODELS_DIR (weights; the demo model is written there on first use), TURBOWAN_BACKEND.`;

const flagsSchema = z.object({
  out: z.string().min(1).default("video.mp4"),
  image: z.string().optional(),
  backend: z.enum(["auto", "cpu", "cuda"], { error: "backend must be auto, cpu or cuda." }).optional(),
});

export const generate: Command = {
  name: "generate",
  summary: "generate one video to an mp4 file on this machine",
  usage,
  async run(argv) {
    const { values, positionals } = parseFlags(
      argv,
      {
        out: { type: "string", short: "o" },
        image: { type: "string" },
        model: { type: "string" },
        resolution: { type: "string" },
        aspect: { type: "string" },
        frames: { type: "string" },
        steps: { type: "string" },
        seed: { type: "string" },
        "sigma-max": { type: "string" },
        attention: { type: "string" },
        topk: { type: "string" },
        ode: { type: "boolean" },
        backend: { type: "string" },
        quiet: { type: "boolean" },
      },
      true,
    );
    if (positionals.length === 0) throw new UsageError("give the prompt, for example: turbowan generate \"a red fox in snow\"");
    const config = loadConfig();
    const prompt = validate(promptSchema, positionals.join(" "));
    const flags = validate(flagsSchema, values);
    const options = validate(generationOptionsSchema, {
      model: values.model ?? config.models[0],
      resolution: values.resolution,
      aspectRatio: values.aspect,
      frames: num(values.frames),
      steps: num(values.steps),
      seed: num(values.seed),
      sigmaMax: num(values["sigma-max"]),
      attention: values.attention,
      topk: num(values.topk),
      ode: values.ode,
    });
    const seed = options.seed ?? Math.floor(Math.random() * 0x1_0000_0000);
    let image: { data: Uint8Array; width: number; height: number } | undefined;
    if (flags.image) {
      const bytes = new Uint8Array(await readFile(flags.image).catch(() => {
        throw new UsageError(`--image: cannot read ${flags.image}.`);
      }));
      await validateImage(bytes).catch((err: Error) => {
        throw new UsageError(`--image: ${err.message}`);
      });
      image = await decodeRgb(bytes);
    }

    const log = createLogger({ level: process.env.LOG_LEVEL ?? "warn", destination: undefined });
    const pool = new EnginePool({ modelsDir: config.modelsDir, backend: flags.backend ?? config.backend, textEncoderWeights: config.textEncoderWeights, log });
    const bar = progressBar(process.stderr, { enabled: !values.quiet });
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once("SIGINT", onSignal);
    const workDir = await mkdtemp(path.join(os.tmpdir(), "turbowan-generate-"));
    const started = Date.now();
    let streamed: StreamedVideo | undefined;
    try {
      const report = (p: JobProgress) => bar.update(p);
      report({ stage: "load", step: 0, total: 1 });
      const lease = await pool.acquire(options.model);
      // As in the worker: ffmpeg encodes the decoded chunks while later ones still decode.
      const encoder = createVideoEncoder();
      streamed = encoder.stream?.(workDir, { signal: abort.signal });
      const video = await lease.pipeline.generate({
        prompt,
        resolution: options.resolution,
        aspectRatio: options.aspectRatio,
        frames: options.frames,
        steps: options.steps,
        seed,
        ode: options.ode,
        attention: options.attention,
        topk: options.topk,
        ...(options.sigmaMax !== undefined ? { sigmaMax: options.sigmaMax } : {}),
        ...(image ? { image, adaptiveResolution: true } : {}),
        onProgress: (p) => report(p),
        signal: abort.signal,
        ...(streamed ? { onFrames: (c: FrameChunk) => streamed!.onFrames(c) } : {}),
      });
      lease.release();
      report({ stage: "encode-video", step: 0, total: 1 });
      const files = await encoder.encode(video, workDir, { signal: abort.signal, ...(streamed ? { streamed } : {}) });
      await copyFile(files.video, flags.out);
      bar.done();
      console.log(
        `wrote ${flags.out} (${video.numFrames} frames, ${video.width}x${video.height}, seed ${video.seed}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
      return 0;
    } catch (err) {
      bar.done();
      if (abort.signal.aborted) {
        console.error("cancelled");
        return 130;
      }
      throw err;
    } finally {
      process.off("SIGINT", onSignal);
      await streamed?.abort("the command ended").catch(() => undefined); // ffmpeg gone before its folder
      await pool.close();
      await rm(workDir, { recursive: true, force: true });
    }
  },
};
