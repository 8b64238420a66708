// Checks the Dockerfiles without a Docker engine: dockerfile-utils' linter, then the structure
// parsed with dockerfile-ast (stages, COPY sources present in the repository and not excluded by
// .dockerignore, non-root runtime user, health check, entrypoint, CUDA architectures).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { DockerfileParser, type Arg, type Copy } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const read = (p: string) => readFileSync(path.join(root, p), "utf8");

interface Step {
  keyword: string;
  content: string;
  /** JSON-form arguments (CMD ["a"]), else whitespace-split arguments. */
  args: string[];
  from?: string;
}
interface Stage {
  name: string;
  image: string;
  steps: Step[];
}

/** Stages with their base image resolved from the global ARG defaults. */
function stagesOf(text: string): Stage[] {
  const df = DockerfileParser.parse(text);
  const globals = new Map<string, string>();
  for (const arg of df.getInitialARGs() as Arg[]) {
    const p = arg.getProperty();
    if (p?.getName()) globals.set(p.getName(), (p.getValue() ?? "").replace(/^"|"$/g, ""));
  }
  const resolve = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globals.get(a ?? b) ?? `<unset ${a ?? b}>`);
  const stages: Stage[] = [];
  for (const ins of df.getInstructions()) {
    const keyword = ins.getKeyword();
    const content = ins.getArgumentsContent() ?? "";
    if (keyword === "FROM") {
      const [image, as, name] = content.split(/\s+/);
      stages.push({ image: resolve(image!), name: as?.toUpperCase() === "AS" ? name! : String(stages.length), steps: [] });
      continue;
    }
    if (stages.length === 0) continue;
    const step: Step = {
      keyword,
      content,
      args: content.trim().startsWith("[") ? (JSON.parse(content) as string[]) : ins.getArguments().map((a) => a.getValue()),
    };
    if (keyword === "COPY") {
      step.from = (ins as Copy).getFromFlag()?.getValue() ?? undefined;
      step.args = step.args.filter((a) => !a.startsWith("--"));
    }
    stages.at(-1)!.steps.push(step);
  }
  return stages;
}

/** .dockerignore patterns (the subset we use: names, paths, `**` prefixes). */
function dockerIgnored(source: string): boolean {
  const patterns = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const clean = source.replace(/^\.\//, "").replace(/\/$/, "");
  return patterns.some((p) => {
    const rx = new RegExp(`^${p.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*\*\//g, "(?:.*/)?").replace(/\*/g, "[^/]*")}(?:/.*)?$`);
    return rx.test(clean);
  });
}

/** Every COPY from the build context names files that exist and are sent to the builder; every
 * COPY --from names an earlier stage. */
function checkCopies(stages: Stage[]): void {
  const names: string[] = [];
  for (const stage of stages) {
    for (const step of stage.steps.filter((s) => s.keyword === "COPY")) {
      const sources = step.args.slice(0, -1);
      expect(sources.length, step.content).toBeGreaterThan(0);
      if (step.from) {
        expect(names, `COPY --from=${step.from} names an earlier stage`).toContain(step.from);
        continue;
      }
      for (const src of sources) {
        expect(existsSync(path.join(root, src)), `COPY source ${src} exists`).toBe(true);
        expect(dockerIgnored(src), `COPY source ${src} is excluded by .dockerignore`).toBe(false);
      }
    }
    names.push(stage.name);
  }
}

const lint = (text: string) => validate(text).filter((d) => d.severity === 1 || d.severity === 2);

describe("the linter", () => {
  it("reports real mistakes (so a clean result means something)", () => {
    const bad = "FROM ubuntu\nEXPOSE 99999999\nHEALTHCHECK --interval=abc CMD true\nCMD [\"a\"]\nCMD [\"b\"]\nWORKDIR relative\n";
    expect(lint(bad).length).toBeGreaterThanOrEqual(2);
  });
  it("checks that .dockerignore matching works", () => {
    expect(dockerIgnored("node_modules")).toBe(true);
    expect(dockerIgnored("native/build/Release/x")).toBe(true);
    expect(dockerIgnored("native/src/")).toBe(false);
    expect(dockerIgnored("functions/")).toBe(false);
  });
});

describe("container/Dockerfile (GPU worker)", () => {
  const text = read("container/Dockerfile");
  const stages = stagesOf(text);
  const stage = (name: string) => stages.find((s) => s.name === name)!;
  const runtime = stages.at(-1)!;

  it("passes the linter", () => {
    expect(lint(text)).toEqual([]);
  });

  it("builds on the CUDA 13.0 devel image and runs on the matching runtime image", () => {
    expect(stages.map((s) => s.name)).toEqual(["node", "build", "runtime"]);
    const devel = /^nvidia\/cuda:(13\.0\.\d+)-devel-ubuntu24\.04$/.exec(stage("build").image);
    const rt = /^nvidia\/cuda:(13\.0\.\d+)-runtime-ubuntu24\.04$/.exec(runtime.image);
    expect(devel, stage("build").image).not.toBeNull();
    expect(rt, runtime.image).not.toBeNull();
    expect(rt![1]).toBe(devel![1]);
  });

  it("uses the Node release the project pins", () => {
    const pinned = JSON.parse(read("package.json")).devDependencies.node.replace(/^[\^~]/, "");
    expect(stage("node").image).toBe(`node:${pinned}-bookworm-slim`);
    expect(runtime.steps.some((s) => s.keyword === "COPY" && s.from === "node" && s.args[0] === "/usr/local/bin/node")).toBe(true);
  });

  it("copies only files that exist and reaches stages that exist", () => {
    checkCopies(stages);
  });

  it("compiles the addon with the CUDA backend for sm_90a and sm_89 (the architectures the kernels build for)", () => {
    expect(text).toMatch(/ARG CUDA_ARCHITECTURES="90a;89"/);
    const compile = stage("build").steps.find((s) => s.keyword === "RUN" && s.content.includes("cmake-js compile"))!;
    expect(compile.content).toContain("--CDTW_CUDA=ON");
    expect(compile.content).toContain("--CDCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES}");
    expect(stage("build").steps.some((s) => s.keyword === "RUN" && s.content.includes("npm prune --omit=dev"))).toBe(true);
    // The addon lands where native/src/addon.ts looks for it.
    expect(read("native/src/addon.ts")).toContain("build/Release/turbowan.node");
    expect(runtime.steps.some((s) => s.keyword === "COPY" && s.from === "build" && s.args[1] === "native/build/Release/turbowan.node")).toBe(true);
  });

  it("runs as a non-root user with ffmpeg, a health check and the worker entrypoint", () => {
    const users = runtime.steps.filter((s) => s.keyword === "USER");
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.args[0]).not.toMatch(/^(root|0)(:.*)?$/);
    const userAt = runtime.steps.lastIndexOf(users.at(-1)!);
    const entryAt = runtime.steps.findIndex((s) => s.keyword === "ENTRYPOINT");
    expect(userAt).toBeLessThan(entryAt);
    expect(runtime.steps.find((s) => s.keyword === "RUN" && s.content.includes("apt-get install"))!.content).toMatch(/\bffmpeg\b/);

    const health = runtime.steps.filter((s) => s.keyword === "HEALTHCHECK");
    expect(health).toHaveLength(1);
    expect(health[0]!.content).toContain('CMD ["/app/container/healthcheck.sh"]');
    expect(runtime.steps.find((s) => s.keyword === "ENTRYPOINT")!.args).toEqual(["/usr/bin/tini", "--", "/app/container/entrypoint.sh"]);
    expect(runtime.steps.find((s) => s.keyword === "CMD")!.args).toEqual(["worker"]);
    const copied = runtime.steps.find((s) => s.keyword === "COPY" && s.args.includes("container/entrypoint.sh"))!;
    expect(copied.args).toContain("container/healthcheck.sh");
    expect(runtime.steps.find((s) => s.keyword === "WORKDIR")!.args[0]).toBe("/app");
  });

  it("ships executable, syntactically valid scripts", () => {
    for (const script of ["container/entrypoint.sh", "container/healthcheck.sh", "functions/cli/bin.mjs"]) {
      expect(statSync(path.join(root, script)).mode & 0o111, `${script} is executable`).not.toBe(0);
    }
    for (const script of ["container/entrypoint.sh", "container/healthcheck.sh"]) execFileSync("sh", ["-n", path.join(root, script)]);
  });

  it("can bake checkpoints at build time with fetch-weights", () => {
    expect(text).toMatch(/ARG MODELS=""/);
    const bake = runtime.steps.find((s) => s.keyword === "RUN" && s.content.includes("fetch-weights"))!;
    expect(bake.content).toContain("--models-dir /opt/turbowan/models");
    expect(text).toContain("RUN --mount=type=secret,id=hf_token,env=HF_TOKEN");
  });
});

describe("container/Dockerfile.ingress (Lambda image)", () => {
  const text = read("container/Dockerfile.ingress");
  const stages = stagesOf(text);
  const runtime = stages.at(-1)!;

  it("passes the linter", () => {
    expect(lint(text)).toEqual([]);
  });

  it("is built on the Lambda Node 22 base image from files that exist", () => {
    for (const s of stages) expect(s.image).toBe("public.ecr.aws/lambda/nodejs:22");
    checkCopies(stages);
    expect(stages[0]!.steps.find((s) => s.keyword === "RUN" && s.content.includes("npm ci"))!.content).toContain("--omit=dev");
  });

  it("hands Lambda a handler whose imports are compiled from sources that exist", () => {
    const cmd = runtime.steps.find((s) => s.keyword === "CMD")!.args;
    expect(cmd).toEqual(["lambda-entry.handler"]);
    const copy = runtime.steps.find((s) => s.keyword === "COPY" && s.args.at(-1) === "lambda-entry.mjs")!;
    const entry = read(copy.args[0]!);
    expect(entry).toMatch(/export \{ handler \}/);
    const imports = [...entry.matchAll(/(?:from |import\()"\.\/([^"]+)"/g)].map((m) => m[1]!);
    expect(imports).toEqual(["functions/cloud/secrets.js", "functions/ingress/lambda.js"]);
    for (const file of imports) expect(existsSync(path.join(root, file.replace(/\.js$/, ".ts"))), file).toBe(true);
    // Compiled in the build stage with the esbuild that tsx (a production dependency) brings.
    expect(stages[0]!.steps.some((s) => s.keyword === "RUN" && s.content.includes("container/ingress/compile.sh /build/js"))).toBe(true);
    expect(runtime.steps.some((s) => s.keyword === "COPY" && s.from === "build" && s.args[0] === "/build/js")).toBe(true);
    expect(JSON.parse(read("package.json")).dependencies.tsx).toBeDefined();
  });
});
