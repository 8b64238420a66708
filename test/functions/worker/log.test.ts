// The logger: JSON lines, job id bound by child loggers, secrets redacted.
import { Writable } from "node:stream";
import { expect, it } from "vitest";
import { createLogger, jobLogger } from "../../../functions/log.js";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, log: createLogger({ level: "info", destination }) };
}

it("writes JSON with level, time and the job id on every line of a job logger", () => {
  const { lines, log } = capture();
  const job = jobLogger(log, "01jobid");
  job.info("one");
  job.child({ stage: "denoise" }).warn({ step: 2 }, "two");
  expect(lines).toHaveLength(2);
  for (const l of lines) expect(l).toMatchObject({ jobId: "01jobid", name: "turbowan" });
  expect(lines[1]).toMatchObject({ level: "warn", stage: "denoise", step: 2, msg: "two" });
  expect(typeof lines[0]!.time).toBe("string");
});

it("redacts tokens, keys and secrets", () => {
  const { lines, log } = capture();
  log.info(
    {
      botToken: "bot-secret",
      config: { privateKey: "-----BEGIN", webhookSecret: "whsec-value" },
      replyTo: { interactionToken: "tok" },
      headers: { authorization: "Bot abc" },
    },
    "configured",
  );
  const text = JSON.stringify(lines[0]);
  for (const secret of ["bot-secret", "-----BEGIN", "whsec-value", "tok\"", "Bot abc"]) expect(text).not.toContain(secret);
  expect(text).toContain("[redacted]");
});
