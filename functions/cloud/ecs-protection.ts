// ECS task scale-in protection: while a worker runs a job, ECS must not stop its task when the
// service scales in (the queue emptied, so the backlog alarm lowers the desired count). The ECS
// agent inside every task serves PUT $ECS_AGENT_URI/task-protection/v1/state
// {"ProtectionEnabled": bool, "ExpiresInMinutes": n}; the task role needs no extra permission.
// Outside ECS (no ECS_AGENT_URI) this is a no-op, so the same worker runs under `docker run` anywhere.
//
// Usage in the worker loop: `await protection.acquire()` after a message is leased, and
// `await protection.release()` after it is acked or handed back. Calls nest (a worker running two
// jobs stays protected until both finish). Failures are logged and swallowed: a job is never failed
// because the agent was unreachable; at worst ECS may stop the task and the lease times out.

export interface TaskProtection {
  readonly enabled: boolean;
  acquire(): Promise<void>;
  release(): Promise<void>;
}

export interface EcsProtectionOptions {
  /** Defaults to process.env.ECS_AGENT_URI. */
  agentUri?: string;
  /** Safety net: ECS drops the protection after this even if release() never runs. Default 60
   * (longer than any job; the agent allows 1–2880). */
  expiresInMinutes?: number;
  fetch?: typeof fetch;
  warn?: (message: string) => void;
}

export function ecsTaskProtection(opts: EcsProtectionOptions = {}): TaskProtection {
  const agentUri = opts.agentUri ?? process.env.ECS_AGENT_URI;
  if (!agentUri) return { enabled: false, acquire: async () => {}, release: async () => {} };
  const url = `${agentUri.replace(/\/+$/, "")}/task-protection/v1/state`;
  const doFetch = opts.fetch ?? fetch;
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const expiresInMinutes = opts.expiresInMinutes ?? 60;
  let holders = 0;
  // Serialize agent calls so a release never overtakes the acquire before it.
  let chain: Promise<void> = Promise.resolve();

  const put = (enabled: boolean) => {
    chain = chain.then(async () => {
      try {
        const body = enabled ? { ProtectionEnabled: true, ExpiresInMinutes: expiresInMinutes } : { ProtectionEnabled: false };
        const res = await doFetch(url, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        const text = await res.text();
        // The agent answers 200 with {"failure": …} or {"error": …} when ECS refused the change.
        if (!res.ok || /"(failure|error)"\s*:/.test(text)) warn(`ECS task protection ${enabled ? "on" : "off"} failed: HTTP ${res.status} ${text.slice(0, 300)}`);
      } catch (err) {
        warn(`ECS task protection ${enabled ? "on" : "off"} failed: ${(err as Error).message}`);
      }
    });
    return chain;
  };

  return {
    enabled: true,
    acquire() {
      holders++;
      return holders === 1 ? put(true) : chain;
    },
    release() {
      if (holders === 0) return chain;
      holders--;
      return holders === 0 ? put(false) : chain;
    },
  };
}
