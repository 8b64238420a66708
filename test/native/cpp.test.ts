// Runs every standalone C++ test (test/**/*_test.cpp, built by `npm install` into native/build) as
// its own vitest case, so `npm test` covers the engine and kernels without a second runner.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const build = path.join(root, "native/build");

interface CtestJson {
  tests: { name: string; command: string[] }[];
}

function listTests(): CtestJson["tests"] {
  if (!existsSync(path.join(build, "CTestTestfile.cmake"))) return [];
  const out = execFileSync("ctest", ["--test-dir", build, "--show-only=json-v1"], { encoding: "utf8" });
  return (JSON.parse(out) as CtestJson).tests;
}

const tests = listTests();

describe("C++ engine and kernel tests", () => {
  it("are built", () => {
    expect(tests.length, "native/build has no C++ tests: run `npm install` (or `npm run build:native`)").toBeGreaterThan(0);
  });
  for (const t of tests) {
    it(t.name, () => {
      const [cmd, ...args] = t.command;
      const r = spawnSync(cmd!, args, { cwd: root, encoding: "utf8", timeout: 300_000 });
      const log = `${r.stdout}\n${r.stderr}`;
      expect(r.status, `${t.name} failed:\n${log}`).toBe(0);
    }, 310_000);
  }
});
