// Resolves on the first SIGTERM or SIGINT; a second one exits at once (the operator insists).
import type { Logger } from "pino";

export function onShutdown(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const first = (signal: NodeJS.Signals) => {
      log.info({ signal }, "shutting down: no new jobs; the running one may finish (signal again to exit now)");
      process.off("SIGTERM", first);
      process.off("SIGINT", first);
      process.once("SIGTERM", () => process.exit(143));
      process.once("SIGINT", () => process.exit(130));
      resolve(signal);
    };
    process.on("SIGTERM", first);
    process.on("SIGINT", first);
  });
}
