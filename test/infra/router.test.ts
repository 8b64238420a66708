import { describe, expect, it } from "vitest";
import { createRouter, type RouterRecord, type SendEntry } from "../../infra/lambda/router/index.mjs";

const record = (id: string, model: string | undefined, body: object = { jobId: id, model }): RouterRecord => ({
  messageId: id,
  body: JSON.stringify(body),
  messageAttributes: model ? { model: { dataType: "String", stringValue: model } } : undefined,
});

describe("intake router", () => {
  it("sends each job to its model's queue with body and attributes intact", async () => {
    const sent: [string, SendEntry[]][] = [];
    const route = createRouter({
      routes: { small: "https://q/small", big: "https://q/big" },
      sendBatch: async (url, entries) => (sent.push([url, entries]), {}),
    });
    const out = await route({ Records: [record("a", "small"), record("b", "big"), record("c", "small")] });
    expect(out).toEqual({ batchItemFailures: [] });
    expect(sent.map(([url, e]) => [url, e.map((x) => JSON.parse(x.MessageBody).jobId)])).toEqual([
      ["https://q/small", ["a", "c"]],
      ["https://q/big", ["b"]],
    ]);
    expect(sent[0]![1][0]!.MessageAttributes).toEqual({ model: { DataType: "String", StringValue: "small" } });
  });

  it("falls back to the model in the body, and fails jobs for unknown models or failed sends", async () => {
    const route = createRouter({
      routes: { small: "https://q/small", flaky: "https://q/flaky" },
      sendBatch: async (url, entries) => (url.endsWith("flaky") ? { Failed: [{ Id: entries[0]!.Id }] } : {}),
    });
    const out = await route({
      Records: [record("a", undefined, { jobId: "a", model: "small" }), record("b", "nope"), record("c", "flaky"), { messageId: "d", body: "not json" }],
    });
    expect(out.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(["b", "c", "d"]);
  });

  it("reports every job of a batch whose send threw", async () => {
    const route = createRouter({ routes: { small: "https://q/small" }, sendBatch: async () => { throw new Error("throttled"); } });
    const out = await route({ Records: [record("a", "small"), record("b", "small")] });
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: "a" }, { itemIdentifier: "b" }]);
  });
});
