// The one command grammar. Discord slash options, a GitHub `/turbowan ...` comment line and the web
// console all come through parseCommand(), so every frontend accepts the same options with the
// same defaults and the same error sentences (those of the job model's zod schemas).
import {
  ATTENTIONS,
  ASPECTS,
  MODELS,
  RESOLUTIONS,
  describeValidationError,
  generationOptionsSchema,
  promptSchema,
  type GenerationOptions,
} from "../functions/jobs/model.js";

export type OptionType = "string" | "integer" | "number" | "boolean";

export interface OptionSpec {
  /** The name people type: Discord option name, `--flag` on GitHub, form field on the web. */
  name: string;
  /** The GenerationOptions field it fills. */
  key: keyof GenerationOptions;
  type: OptionType;
  description: string;
  choices?: readonly string[];
  min?: number;
  max?: number;
}

/** Generation options, in the order frontends list them. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { name: "model", key: "model", type: "string", description: "Which model makes the video", choices: MODELS },
  { name: "resolution", key: "resolution", type: "string", description: "480p (fast) or 720p", choices: RESOLUTIONS },
  { name: "aspect", key: "aspectRatio", type: "string", description: "Aspect ratio", choices: ASPECTS },
  { name: "frames", key: "frames", type: "integer", description: "Number of frames, 4k+1 (81 is 5 s at 16 fps)", min: 5, max: 161 },
  { name: "steps", key: "steps", type: "integer", description: "Sampling steps, 1 to 4", min: 1, max: 4 },
  { name: "seed", key: "seed", type: "integer", description: "Random seed, to reproduce a video", min: 0, max: 0xffffffff },
  { name: "sigma_max", key: "sigmaMax", type: "number", description: "Initial noise level (advanced)", min: 1, max: 5000 },
  { name: "attention", key: "attention", type: "string", description: "Attention kernel (advanced)", choices: ATTENTIONS },
  { name: "topk", key: "topk", type: "number", description: "Sparse attention keep ratio, above 0 up to 1 (advanced)", min: 0, max: 1 },
  { name: "ode", key: "ode", type: "boolean", description: "Deterministic ODE sampling (advanced)" },
];

/** Names accepted besides the generation options. */
export const PROMPT_OPTION = "prompt";
export const IMAGE_OPTION = "image";
export const VALID_FLAGS: readonly string[] = [PROMPT_OPTION, IMAGE_OPTION, ...OPTION_SPECS.map((s) => s.name)];

const I2V_MODELS: ReadonlySet<string> = new Set(["wan2.2-i2v-a14b", "demo"]);
const T2V_MODELS: ReadonlySet<string> = new Set(["wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "demo"]);
export const DEFAULT_I2V_MODEL = "wan2.2-i2v-a14b";

/** Where an input image comes from; the frontend fetches it (each knows its trusted hosts). */
export interface ImageRef {
  url: string;
  /** Known before download on Discord (attachment metadata). */
  size?: number;
  contentType?: string;
  filename?: string;
}

export interface ParsedCommand {
  kind: "t2v" | "i2v";
  prompt: string;
  image?: ImageRef;
  options: GenerationOptions;
}

export type ParseResult = { ok: true; command: ParsedCommand } | { ok: false; error: string };

/** Raw input from any frontend: values typed (Discord) or text (GitHub, web form). */
export interface RawCommand {
  prompt?: unknown;
  image?: ImageRef;
  options: Record<string, unknown>;
}

const TRUE_WORDS = new Set(["true", "yes", "on", "1"]);
const FALSE_WORDS = new Set(["false", "no", "off", "0"]);

/** Text → typed value. Unparseable text is passed through so the schema words the error. */
function coerce(spec: OptionSpec, value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  if (spec.type === "integer" || spec.type === "number") {
    return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text) ? Number(text) : text;
  }
  if (spec.type === "boolean") {
    const lower = text.toLowerCase();
    if (TRUE_WORDS.has(lower)) return true;
    if (FALSE_WORDS.has(lower)) return false;
    return text;
  }
  // Enum values are matched without regard to case ("720P", "SageSLA").
  const match = spec.choices?.find((c) => c.toLowerCase() === text.toLowerCase());
  return match ?? text;
}

/** The one entry every frontend calls. */
export function parseCommand(raw: RawCommand): ParseResult {
  const unknown = Object.keys(raw.options).filter((k) => !OPTION_SPECS.some((s) => s.name === k));
  if (unknown.length > 0) return { ok: false, error: unknownOptionsSentence(unknown) };

  const errors: string[] = [];
  const prompt = promptSchema.safeParse(raw.prompt ?? "");
  if (!prompt.success) errors.push(describeValidationError(prompt.error));

  const mapped: Record<string, unknown> = {};
  for (const spec of OPTION_SPECS) {
    const value = raw.options[spec.name];
    if (value === undefined || value === null || value === "") continue;
    mapped[spec.key] = coerce(spec, value);
  }
  const kind = raw.image ? "i2v" : "t2v";
  const modelGiven = mapped.model !== undefined;
  if (kind === "i2v" && !modelGiven) mapped.model = DEFAULT_I2V_MODEL;

  const options = generationOptionsSchema.safeParse(mapped);
  if (!options.success) errors.push(describeValidationError(options.error));
  if (errors.length > 0 || !prompt.success || !options.success) return { ok: false, error: errors.join(" ") };

  const model = options.data.model;
  if (kind === "i2v" && !I2V_MODELS.has(model)) {
    return { ok: false, error: `${model} makes videos from text only; leave model out or choose ${DEFAULT_I2V_MODEL} to animate an image.` };
  }
  if (kind === "t2v" && !T2V_MODELS.has(model)) {
    return { ok: false, error: `${model} animates an image: attach one, or choose a text-to-video model.` };
  }
  return { ok: true, command: { kind, prompt: prompt.data, image: raw.image, options: options.data } };
}

export function unknownOptionsSentence(names: string[]): string {
  const list = names.map((n) => `--${n}`).join(", ");
  const valid = VALID_FLAGS.map((f) => `--${f}`).join(", ");
  return `Unknown option${names.length > 1 ? "s" : ""} ${list}. Valid options: ${valid}.`;
}

// ---------------------------------------------------------------------------------------------
// Text form: `/turbowan "a red fox in snow" --aspect 9:16 --steps=4`

export const COMMAND_WORD = "/turbowan";

const QUOTES: Record<string, string> = { '"': '"', "'": "'", "“": "”", "‘": "’", "«": "»" };

interface Token {
  text: string;
  quoted: boolean;
}

/** Shell-like split: quotes group words (straight or curly), backslash escapes inside quotes. */
export function tokenize(input: string): { ok: true; tokens: Token[] } | { ok: false; error: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const close = QUOTES[ch];
    if (close) {
      let text = "";
      i++;
      while (i < input.length && input[i] !== close) {
        if (input[i] === "\\" && i + 1 < input.length && (input[i + 1] === close || input[i + 1] === "\\")) i++;
        text += input[i];
        i++;
      }
      if (i >= input.length) return { ok: false, error: `A quote is not closed: add the closing ${close} after the prompt.` };
      i++;
      tokens.push({ text, quoted: true });
      continue;
    }
    let text = "";
    while (i < input.length && !/\s/.test(input[i]!)) {
      // `--flag="two words"`: a quote right after = groups the value.
      const q = QUOTES[input[i]!];
      if (q && text.endsWith("=")) {
        const end = input.indexOf(q, i + 1);
        if (end < 0) return { ok: false, error: `A quote is not closed: add the closing ${q}.` };
        text += input.slice(i + 1, end);
        i = end + 1;
        continue;
      }
      text += input[i];
      i++;
    }
    tokens.push({ text, quoted: false });
  }
  return { ok: true, tokens };
}

export interface TextCommand {
  prompt: string;
  /** --image value, unvalidated. */
  imageUrl?: string;
  options: Record<string, string | boolean>;
}

const BOOLEAN_FLAGS = new Set(OPTION_SPECS.filter((s) => s.type === "boolean").map((s) => s.name));

/** Splits the arguments of a text command into prompt words and flags (values stay text). */
export function parseArguments(args: string): { ok: true; value: TextCommand } | { ok: false; error: string } {
  const tokenized = tokenize(args);
  if (!tokenized.ok) return tokenized;
  const words: string[] = [];
  const options: Record<string, string | boolean> = {};
  let prompt: string | undefined;
  let imageUrl: string | undefined;
  const unknown: string[] = [];
  const tokens = tokenized.tokens;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.quoted || !token.text.startsWith("--") || token.text === "--") {
      words.push(token.text);
      continue;
    }
    const eq = token.text.indexOf("=");
    const name = (eq >= 0 ? token.text.slice(2, eq) : token.text.slice(2)).toLowerCase().replace(/-/g, "_");
    let value: string | boolean | undefined = eq >= 0 ? token.text.slice(eq + 1) : undefined;
    if (!VALID_FLAGS.includes(name)) {
      unknown.push(name);
      continue;
    }
    if (value === undefined) {
      const next = tokens[i + 1];
      const nextIsValue = next !== undefined && (next.quoted || !next.text.startsWith("--"));
      if (BOOLEAN_FLAGS.has(name) && (!nextIsValue || !/^(true|false|yes|no|on|off|1|0)$/i.test(next!.text))) {
        value = true; // `--ode` alone means on
      } else if (nextIsValue) {
        value = next!.text;
        i++;
      } else {
        return { ok: false, error: `--${name} needs a value, for example --${name} ${exampleValue(name)}.` };
      }
    }
    if (name === PROMPT_OPTION) prompt = String(value);
    else if (name === IMAGE_OPTION) imageUrl = String(value);
    else if (name in options) return { ok: false, error: `--${name} is given twice; keep one.` };
    else options[name] = value;
  }
  if (unknown.length > 0) return { ok: false, error: unknownOptionsSentence(unknown) };
  const joined = words.join(" ");
  if (prompt !== undefined && joined.trim() !== "") {
    return { ok: false, error: "Give the prompt once: either in quotes after /turbowan or with --prompt." };
  }
  return { ok: true, value: { prompt: prompt ?? joined, imageUrl, options } };
}

function exampleValue(name: string): string {
  const spec = OPTION_SPECS.find((s) => s.name === name);
  if (spec?.choices) return spec.choices[0]!;
  if (name === "image") return "https://github.com/user-attachments/assets/...";
  if (name === "prompt") return '"a red fox in snow"';
  return spec?.min !== undefined ? String(spec.name === "frames" ? 81 : spec.max === 1 ? 0.1 : spec.min) : "1";
}

// ---------------------------------------------------------------------------------------------
// GitHub: the command line in a comment, and images attached on GitHub's own hosts.

/** Hosts GitHub serves comment attachments from. Nothing else is ever fetched. */
export const GITHUB_IMAGE_HOSTS: readonly string[] = [
  "github.com",
  "user-images.githubusercontent.com",
  "private-user-images.githubusercontent.com",
];

export const GITHUB_IMAGE_REJECTED =
  "The image must be attached to the comment on GitHub (a github.com/user-attachments/… or user-images.githubusercontent.com link); other addresses are not fetched.";

/** Checks that a URL is a GitHub comment attachment; returns the sentence to show otherwise. */
export function checkGitHubImageUrl(raw: string): { ok: true; url: string } | { ok: false; error: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, error: GITHUB_IMAGE_REJECTED };
  }
  if (url.protocol !== "https:" || url.username || url.password || url.port) return { ok: false, error: GITHUB_IMAGE_REJECTED };
  const host = url.hostname.toLowerCase();
  if (!GITHUB_IMAGE_HOSTS.includes(host)) return { ok: false, error: GITHUB_IMAGE_REJECTED };
  if (host === "github.com" && !url.pathname.startsWith("/user-attachments/")) return { ok: false, error: GITHUB_IMAGE_REJECTED };
  return { ok: true, url: url.toString() };
}

/** The first `/turbowan` line outside code blocks, without the command word; undefined if none. */
export function findCommandLine(body: string): string | undefined {
  let fenced = false;
  for (const rawLine of body.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line.startsWith("```") || line.startsWith("~~~")) {
      fenced = !fenced;
      continue;
    }
    if (fenced) continue;
    if (line === COMMAND_WORD || line.startsWith(COMMAND_WORD + " ") || line.startsWith(COMMAND_WORD + "\t")) {
      return line.slice(COMMAND_WORD.length).trim();
    }
  }
  return undefined;
}

/** Image URLs attached in a comment: markdown images, <img src>, and bare attachment links. */
export function findAttachedImages(body: string): string[] {
  const found: string[] = [];
  for (const m of body.matchAll(/!\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) found.push(m[1]!);
  for (const m of body.matchAll(/<img\b[^>]*\bsrc\s*=\s*["']([^"']+)["']/gi)) found.push(m[1]!);
  for (const m of body.matchAll(/^\s*(https:\/\/github\.com\/user-attachments\/assets\/[\w-]+)\s*$/gm)) found.push(m[1]!);
  return [...new Set(found)];
}

/**
 * A GitHub comment body → a parsed command. `undefined` when the comment holds no `/turbowan`
 * line (not for us); otherwise a result with the same sentences as every other frontend.
 */
export function parseGitHubComment(body: string): ParseResult | undefined {
  const line = findCommandLine(body);
  if (line === undefined) return undefined;
  const args = parseArguments(line);
  if (!args.ok) return args;
  let imageUrl = args.value.imageUrl;
  if (imageUrl === undefined) {
    const attached = findAttachedImages(body);
    if (attached.length > 1) return { ok: false, error: "Attach one image at most: image-to-video animates a single picture." };
    imageUrl = attached[0];
  }
  let image: ImageRef | undefined;
  if (imageUrl !== undefined) {
    const checked = checkGitHubImageUrl(imageUrl);
    if (!checked.ok) return checked;
    image = { url: checked.url };
  }
  return parseCommand({ prompt: args.value.prompt, image, options: args.value.options });
}

/** A one-line summary of the options that differ from the defaults, for replies. */
export function describeOptions(options: GenerationOptions, seed?: number): string {
  const parts = [options.model, options.resolution, options.aspectRatio, `${options.frames} frames`, `${options.steps} step${options.steps > 1 ? "s" : ""}`];
  if (seed !== undefined || options.seed !== undefined) parts.push(`seed ${seed ?? options.seed}`);
  if (options.attention !== "sagesla") parts.push(`attention ${options.attention}`);
  if (options.sigmaMax !== undefined) parts.push(`sigma_max ${options.sigmaMax}`);
  if (options.topk !== 0.1) parts.push(`topk ${options.topk}`);
  if (options.ode) parts.push("ode");
  return parts.join(" · ");
}
