// Child process for the multi-process race test: opens the queue file given as argv[2], says
// "ready", and on "go" drains the queue, then sends back every job id it received.
import { SqliteQueue } from "../../../functions/queue/sqlite.js";

const q = new SqliteQueue({ path: process.argv[2]!, visibilityTimeoutSeconds: 60 });
process.once("message", async () => {
  const got: string[] = [];
  for (;;) {
    const batch = await q.receive({ max: 2 });
    if (batch.length === 0) break;
    got.push(...batch.map((m) => m.body.jobId));
    // A moment of "work", as a real worker has: without it one process can drain the whole queue
    // in the few milliseconds the others spend in SQLite's busy back-off.
    await new Promise((r) => setTimeout(r, 1));
  }
  await q.close();
  process.send!(got, () => process.exit(0));
});
process.send!("ready");
