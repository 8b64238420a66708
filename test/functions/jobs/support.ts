// Shared fixtures for the jobs tests: a real SQLite queue and a real local store in a temp dir.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { JobRequestInput } from "../../../functions/jobs/model.js";
import { SqliteQueue } from "../../../functions/queue/sqlite.js";
import { LocalStore } from "../../../functions/store/local.js";

export function tempPlatform() {
  const dir = mkdtempSync(join(tmpdir(), "turbowan-jobs-"));
  return {
    queue: new SqliteQueue({ path: join(dir, "queue.sqlite") }),
    store: new LocalStore({ root: join(dir, "store"), publicUrl: "http://localhost:8787" }),
  };
}

let n = 0;
export function t2v(extra: Partial<JobRequestInput> = {}): JobRequestInput {
  return {
    kind: "t2v",
    prompt: "  a red fox running through snow  ",
    options: { model: "demo", frames: 17 },
    replyTo: { platform: "web" },
    requester: { platform: "web", id: "local" },
    idempotencyKey: `web-${process.pid}-${n++}`,
    ...extra,
  } as JobRequestInput;
}
