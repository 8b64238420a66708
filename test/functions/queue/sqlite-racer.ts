// Child process for the multi-process race test: drains the queue file given as argv[2] and sends
// back every job id it received.
import { SqliteQueue } from "../../../functions/queue/sqlite.js";

const q = new SqliteQueue({ path: process.argv[2]!, visibilityTimeoutSeconds: 60 });
const got: string[] = [];
for (;;) {
  const batch = await q.receive({ max: 3 });
  if (batch.length === 0) break;
  got.push(...batch.map((m) => m.body.jobId));
}
await q.close();
process.send!(got, () => process.exit(0));
