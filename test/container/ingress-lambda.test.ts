// Builds the ingress image's /var/task layout without Docker (container/ingress/compile.sh, the
// entry, package.json, node_modules) and cold-starts the Lambda handler from it in a child Node,
// then sends it a function-URL event: what Lambda does, minus Lambda.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
let task: string;

beforeAll(() => {
  task = fs.mkdtempSync(path.join(os.tmpdir(), "tw-task-"));
  execFileSync("sh", ["container/ingress/compile.sh", task], { cwd: root, stdio: "pipe" });
  fs.copyFileSync(path.join(root, "container/ingress/lambda-entry.mjs"), path.join(task, "lambda-entry.mjs"));
  fs.copyFileSync(path.join(root, "package.json"), path.join(task, "package.json"));
  fs.symlinkSync(path.join(root, "node_modules"), path.join(task, "node_modules"));
});

describe("the ingress Lambda bundle", () => {
  it("compiles every TypeScript file and copies the console assets", () => {
    expect(fs.existsSync(path.join(task, "functions/ingress/lambda.js"))).toBe(true);
    expect(fs.existsSync(path.join(task, "functions/ingress/console/index.html"))).toBe(true);
    expect(fs.existsSync(path.join(task, "functions/ingress/lambda.ts"))).toBe(false);
  });

  it("cold-starts on plain node and answers a function-URL request", () => {
    const script = `
      const t0 = Date.now();
      const { handler } = await import(${JSON.stringify(path.join(task, "lambda-entry.mjs"))});
      const ready = Date.now() - t0;
      const res = await handler({
        version: "2.0", routeKey: "$default", rawPath: "/healthz", rawQueryString: "",
        headers: { host: "abc.lambda-url.us-east-1.on.aws" },
        requestContext: { http: { method: "GET", path: "/healthz", protocol: "HTTP/1.1", sourceIp: "198.51.100.1", userAgent: "test" },
                          domainName: "abc.lambda-url.us-east-1.on.aws", requestId: "r1", stage: "$default", timeEpoch: Date.now() },
        isBase64Encoded: false,
      }, {});
      console.log(JSON.stringify({ ready, statusCode: res.statusCode, body: res.body }));
      process.exit(0);`;
    const r = spawnSync(path.join(root, "node_modules/.bin/node"), ["--input-type=module", "-e", script], {
      cwd: task,
      encoding: "utf8",
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        TURBOWAN_QUEUE: "sqs",
        TURBOWAN_SQS_QUEUE_URL: "http://127.0.0.1:9/000000000000/turbowan-jobs",
        TURBOWAN_STORE: "s3",
        TURBOWAN_S3_BUCKET: "artifacts",
        TURBOWAN_S3_PREFIX: "jobs/",
        TURBOWAN_MODELS: "wan2.1-t2v-1.3b",
        AWS_REGION: "us-east-1",
        AWS_ENDPOINT_URL: "http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        LOG_LEVEL: "silent",
      },
    });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(out.statusCode).toBe(200);
    // The queue endpoint is unreachable here, so the health answer carries no queue stats.
    expect(JSON.parse(out.body)).toEqual({ ok: true });
  });
});
