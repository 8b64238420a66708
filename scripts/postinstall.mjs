// Runs after `npm install` under the project's pinned Node (npm scripts put node_modules/.bin first
// on PATH, so `node` is the Node 22 of the `node` devDependency). It
//  1. rebuilds better-sqlite3 for that Node when the install step built it for another one, and
//  2. builds the native engine addon (CPU backend always; CUDA when nvcc and cuBLAS are present).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const run = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });

// Checked in a child process: a failed dlopen is cached for the life of a process, so the same
// path could not be retried here after a rebuild.
function sqliteLoads() {
  try {
    execFileSync(process.execPath, ["-e", "new (require('better-sqlite3'))(':memory:').close()"], { cwd: root, stdio: "pipe" });
    return true;
  } catch (err) {
    return new Error(String(err.stderr || err.message).split("\n").find((l) => l.includes("Error")) ?? "does not load");
  }
}

// Headers of exactly this Node, for rebuilding non-Node-API addons (better-sqlite3) against it:
// from the arch package the `node` devDependency may leave behind, else fetched from the npm
// registry once (the `node-<platform>-<arch>` package ships include/node) and cached.
function nodeHeaders() {
  const pkg = `node-${process.platform}-${process.arch}`;
  const local = [path.join(root, "node_modules/node/node_modules", pkg), path.join(root, "node_modules", pkg)];
  for (const dir of local) if (existsSync(path.join(dir, "include/node/node.h"))) return dir;
  const cache = path.join(root, "node_modules/.cache/turbowan", `node-${process.versions.node}`);
  if (!existsSync(path.join(cache, "include/node/node.h"))) {
    mkdirSync(cache, { recursive: true });
    const tgz = execFileSync("npm", ["pack", `${pkg}@${process.versions.node}`, "--silent", "--pack-destination", cache], {
      cwd: cache,
      encoding: "utf8",
    }).trim().split("\n").pop();
    run("tar", ["xzf", path.join(cache, tgz), "-C", cache, "--strip-components=1", "package/include"]);
  }
  return cache;
}

const loaded = sqliteLoads();
if (loaded !== true) {
  console.log(`turbowan: rebuilding better-sqlite3 for Node ${process.version} (${String(loaded.message).split("\n")[0]})`);
  run("npm", ["rebuild", "better-sqlite3", `--nodedir=${nodeHeaders()}`]);
  const again = sqliteLoads();
  if (again !== true) {
    console.error(`turbowan: better-sqlite3 still does not load under Node ${process.version}: ${again.message}`);
    process.exit(1);
  }
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
