// Runs container/entrypoint.sh and container/healthcheck.sh with a stand-in `turbowan` on PATH
// that records its arguments: what the container does at start, without Docker.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
let dir: string;
let env: Record<string, string>;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tw-entry-"));
  fs.mkdirSync(path.join(dir, "bin"));
  // The stand-in records each call; `fetch-weights` exits with $FAKE_FETCH_EXIT and checks that
  // the heartbeat file is being kept fresh while it runs.
  fs.writeFileSync(
    path.join(dir, "bin/turbowan"),
    `#!/bin/sh
echo "$*" >> "${dir}/calls"
if [ "$1" = fetch-weights ]; then
  sleep 0.2
  [ -e "$TURBOWAN_DATA_DIR/worker.heartbeat" ] && echo heartbeat-during-fetch >> "${dir}/calls"
  exit "\${FAKE_FETCH_EXIT:-0}"
fi
[ -e "$TURBOWAN_DATA_DIR/worker.heartbeat" ] && echo stale-heartbeat-left >> "${dir}/calls"
exit 0
`,
    { mode: 0o755 },
  );
  env = {
    PATH: `${dir}/bin:${process.env.PATH}`,
    TURBOWAN_DATA_DIR: path.join(dir, "data"),
    TURBOWAN_MODELS_DIR: path.join(dir, "models"),
    TURBOWAN_BAKED_MODELS_DIR: path.join(dir, "baked"),
  };
});

const entry = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync("sh", [path.join(root, "container/entrypoint.sh"), ...args], { env: { ...env, ...extra }, encoding: "utf8" });
const calls = () => (fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : []);

describe("container/entrypoint.sh", () => {
  it("fetches the models that are not baked in, links the baked ones, then execs the worker", () => {
    fs.mkdirSync(path.join(dir, "baked/wan2.1-t2v-14b"), { recursive: true });
    fs.writeFileSync(path.join(dir, "baked/wan2.1-t2v-14b/SHA256SUMS"), "");
    const r = entry([], { TURBOWAN_MODELS: "wan2.1-t2v-1.3b,wan2.1-t2v-14b" });
    expect(r.status, r.stderr).toBe(0);
    expect(calls()).toEqual([`fetch-weights --models-dir ${dir}/models wan2.1-t2v-1.3b`, "heartbeat-during-fetch", "worker"]);
    expect(fs.readlinkSync(path.join(dir, "models/wan2.1-t2v-14b"))).toBe(path.join(dir, "baked/wan2.1-t2v-14b"));
  });

  it("passes --quant and worker flags through", () => {
    const r = entry(["worker", "--grace", "30"], { TURBOWAN_MODELS: "wan2.1-t2v-1.3b", TURBOWAN_WEIGHTS_QUANT: "1" });
    expect(r.status, r.stderr).toBe(0);
    expect(calls()[0]).toBe(`fetch-weights --models-dir ${dir}/models --quant wan2.1-t2v-1.3b`);
    expect(calls().at(-1)).toBe("worker --grace 30");
  });

  it("does not start the worker when the weights cannot be fetched", () => {
    const r = entry([], { TURBOWAN_MODELS: "wan2.1-t2v-1.3b", FAKE_FETCH_EXIT: "3" });
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/not starting the worker/);
    expect(calls().filter((c) => c.startsWith("worker"))).toEqual([]);
  });

  it("skips fetching with TURBOWAN_SKIP_FETCH=1 and passes other commands straight to turbowan", () => {
    expect(entry([], { TURBOWAN_MODELS: "wan2.1-t2v-1.3b", TURBOWAN_SKIP_FETCH: "1" }).status).toBe(0);
    expect(entry(["serve", "--port", "9"], { TURBOWAN_MODELS: "wan2.1-t2v-1.3b" }).status).toBe(0);
    expect(calls()).toEqual(["worker", "serve --port 9"]);
  });
});

describe("container/healthcheck.sh", () => {
  const check = () => spawnSync("sh", [path.join(root, "container/healthcheck.sh")], { env: { ...env, TURBOWAN_HEALTH_MAX_AGE_S: "60" }, encoding: "utf8" });
  const beat = () => path.join(dir, "data/worker.heartbeat");

  it("is healthy without a heartbeat file (liveness only) and with a fresh one", () => {
    expect(check().status).toBe(0);
    fs.mkdirSync(path.join(dir, "data"));
    fs.writeFileSync(beat(), "");
    expect(check().status).toBe(0);
  });

  it("is unhealthy when the heartbeat is older than the limit", () => {
    fs.mkdirSync(path.join(dir, "data"));
    fs.writeFileSync(beat(), "");
    const old = new Date(Date.now() - 5 * 60_000);
    fs.utimesSync(beat(), old, old);
    const r = check();
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/heartbeat is \d+s old \(limit 60s\)/);
  });
});
