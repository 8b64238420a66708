import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ecsTaskProtection } from "../../../functions/cloud/ecs-protection.js";

// A stand-in ECS agent on loopback that records each protection change.
let agent: http.Server;
let agentUri: string;
let calls: { method: string; path: string; body: unknown }[];
let answer: string;

beforeAll(async () => {
  agent = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c: Buffer) => (raw += c));
    req.on("end", () => {
      calls.push({ method: req.method!, path: req.url!, body: raw ? JSON.parse(raw) : undefined });
      res.writeHead(200, { "content-type": "application/json" }).end(answer);
    });
  });
  await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
  agentUri = `http://127.0.0.1:${(agent.address() as AddressInfo).port}/v3/abc-123`;
});
afterAll(() => new Promise<void>((r) => agent.close(() => r())));
beforeEach(() => {
  calls = [];
  answer = JSON.stringify({ protection: { ProtectionEnabled: true, TaskArn: "arn:aws:ecs:task/x" } });
});

describe("ecsTaskProtection", () => {
  it("is a no-op outside ECS", async () => {
    const p = ecsTaskProtection({ agentUri: "" });
    expect(p.enabled).toBe(false);
    await p.acquire();
    await p.release();
    expect(calls).toEqual([]);
  });

  it("turns protection on for the first job and off after the last one", async () => {
    const p = ecsTaskProtection({ agentUri, expiresInMinutes: 30 });
    await p.acquire();
    await p.acquire();
    await p.release();
    expect(calls).toEqual([{ method: "PUT", path: "/v3/abc-123/task-protection/v1/state", body: { ProtectionEnabled: true, ExpiresInMinutes: 30 } }]);
    await p.release();
    expect(calls[1]).toEqual({ method: "PUT", path: "/v3/abc-123/task-protection/v1/state", body: { ProtectionEnabled: false } });
    await p.release(); // unbalanced release changes nothing
    expect(calls).toHaveLength(2);
  });

  it("keeps the calls in order even when not awaited", async () => {
    const p = ecsTaskProtection({ agentUri });
    void p.acquire();
    await p.release();
    expect(calls.map((c) => (c.body as { ProtectionEnabled: boolean }).ProtectionEnabled)).toEqual([true, false]);
  });

  it("warns, never throws, when the agent refuses or is unreachable", async () => {
    const warnings: string[] = [];
    answer = JSON.stringify({ failure: { Reason: "TASK_NOT_VALID" } });
    const p = ecsTaskProtection({ agentUri, warn: (m) => warnings.push(m) });
    await p.acquire();
    const down = ecsTaskProtection({ agentUri: "http://127.0.0.1:1", warn: (m) => warnings.push(m) });
    await down.acquire();
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/TASK_NOT_VALID/);
  });
});
