// The embedded queue: one SQLite file, shared by every worker process on the machine.
// WAL lets readers run beside the one writer; busy_timeout makes a second process wait for the
// write lock instead of failing; each receive claims its rows inside one IMMEDIATE transaction
// (UPDATE … RETURNING), so two processes can never lease the same message.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { LONG_POLL_S, MAX_RECEIVES, VISIBILITY_TIMEOUT_S } from "./constants.js";
import { LeaseLostError } from "./queue.js";
import type {
  DeadLetter,
  JobMessage,
  Queue,
  QueueStats,
  ReceivedMessage,
  ReceiveOptions,
  SendOptions,
} from "./queue.js";

export interface SqliteQueueOptions {
  /** Database file (created with its directory). */
  path: string;
  visibilityTimeoutSeconds?: number;
  maxReceives?: number;
  /** How often a long poll re-checks for messages, in ms. */
  pollIntervalMs?: number;
  now?: () => number;
}

interface Row {
  id: string;
  body: string;
  attributes: string;
  sent_at: number;
  receive_count: number;
  receipt: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  id            TEXT PRIMARY KEY,
  body          TEXT NOT NULL,
  model         TEXT NOT NULL,
  attributes    TEXT NOT NULL,
  sent_at       INTEGER NOT NULL,          -- ms epoch
  visible_at    INTEGER NOT NULL,          -- ms epoch: receivable from then on (lease end or delay end)
  receive_count INTEGER NOT NULL DEFAULT 0,
  receipt       TEXT,                      -- current lease token; NULL when not leased
  dead_at       INTEGER                    -- ms epoch when dead-lettered; NULL while live
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (dead_at, visible_at, model);
CREATE UNIQUE INDEX IF NOT EXISTS messages_receipt ON messages (receipt);
`;

export class SqliteQueue implements Queue {
  private readonly db: Database.Database;
  private readonly visibility: number;
  private readonly maxReceives: number;
  private readonly pollMs: number;
  private readonly now: () => number;
  private closed = false;

  constructor(options: SqliteQueueOptions) {
    mkdirSync(dirname(options.path), { recursive: true });
    this.db = new Database(options.path);
    this.db.pragma("journal_mode = WAL");
    // Several worker processes share the file: wait for the write lock rather than fail with SQLITE_BUSY.
    this.db.pragma("busy_timeout = 5000");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
    this.visibility = options.visibilityTimeoutSeconds ?? VISIBILITY_TIMEOUT_S;
    this.maxReceives = options.maxReceives ?? MAX_RECEIVES;
    this.pollMs = options.pollIntervalMs ?? 200;
    this.now = options.now ?? Date.now;
  }

  async send(message: JobMessage, options: SendOptions = {}): Promise<string> {
    this.assertOpen();
    const id = randomBytes(12).toString("hex");
    const now = this.now();
    const attributes = { ...options.attributes, model: message.model };
    this.db
      .prepare(
        `INSERT INTO messages (id, body, model, attributes, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(id, JSON.stringify(message), message.model, JSON.stringify(attributes), now, now + (options.delaySeconds ?? 0) * 1000);
    return id;
  }

  async receive(options: ReceiveOptions = {}): Promise<ReceivedMessage[]> {
    const max = Math.max(1, Math.min(10, options.max ?? 1));
    const waitMs = Math.min(options.waitSeconds ?? 0, LONG_POLL_S) * 1000;
    const deadline = this.now() + waitMs;
    for (;;) {
      this.assertOpen();
      const got = this.claim(max, options.visibilityTimeoutSeconds ?? this.visibility, options.model);
      if (got.length > 0 || this.now() >= deadline || options.signal?.aborted) return got;
      await sleep(Math.min(this.pollMs, deadline - this.now()), options.signal);
    }
  }

  // One IMMEDIATE transaction: takes the write lock first, so the SELECT inside the UPDATE sees
  // no rows another process is about to claim.
  private claim(max: number, visibilitySeconds: number, model?: string): ReceivedMessage[] {
    const tx = this.db.transaction(() => {
      const now = this.now();
      // SQS moves a message to the DLQ when it would be delivered more than maxReceiveCount times.
      this.db
        .prepare(
          `UPDATE messages SET dead_at = ?, receipt = NULL
           WHERE dead_at IS NULL AND visible_at <= ? AND receive_count >= ?`,
        )
        .run(now, now, this.maxReceives);
      const token = randomBytes(9).toString("hex");
      return this.db
        .prepare(
          `UPDATE messages
           SET receipt = id || '.' || ?, receive_count = receive_count + 1, visible_at = ?
           WHERE id IN (
             SELECT id FROM messages
             WHERE dead_at IS NULL AND visible_at <= ? AND (? IS NULL OR model = ?)
             ORDER BY visible_at, sent_at LIMIT ?)
           RETURNING id, body, attributes, sent_at, receive_count, receipt`,
        )
        .all(token, now + visibilitySeconds * 1000, now, model ?? null, model ?? null, max) as Row[];
    });
    const rows = tx.immediate();
    return rows
      .sort((a, b) => a.sent_at - b.sent_at)
      .map((r) => ({
        id: r.id,
        body: JSON.parse(r.body) as JobMessage,
        receipt: r.receipt!,
        receiveCount: r.receive_count,
        attributes: JSON.parse(r.attributes) as Record<string, string>,
        sentAt: r.sent_at,
      }));
  }

  async extendVisibility(receipt: string, seconds: number): Promise<void> {
    this.assertOpen();
    const now = this.now();
    // Only a live lease can be extended: once it expired the message may be someone else's.
    const { changes } = this.db
      .prepare(`UPDATE messages SET visible_at = ? WHERE receipt = ? AND dead_at IS NULL AND visible_at > ?`)
      .run(now + seconds * 1000, receipt, now);
    if (changes === 0) throw new LeaseLostError();
  }

  async ack(receipt: string): Promise<void> {
    this.assertOpen();
    this.db.prepare(`DELETE FROM messages WHERE receipt = ? AND dead_at IS NULL`).run(receipt);
  }

  async release(receipt: string, delaySeconds = 0): Promise<void> {
    this.assertOpen();
    this.db
      .prepare(`UPDATE messages SET receipt = NULL, visible_at = ? WHERE receipt = ? AND dead_at IS NULL`)
      .run(this.now() + delaySeconds * 1000, receipt);
  }

  async deadLetters(limit = 100): Promise<DeadLetter[]> {
    this.assertOpen();
    this.deadLetterExhausted();
    const rows = this.db
      .prepare(`SELECT * FROM messages WHERE dead_at IS NOT NULL ORDER BY dead_at, sent_at LIMIT ?`)
      .all(limit) as Row[];
    return rows.map((r) => ({
      id: r.id,
      body: JSON.parse(r.body) as JobMessage,
      receiveCount: r.receive_count,
      attributes: JSON.parse(r.attributes) as Record<string, string>,
      sentAt: r.sent_at,
    }));
  }

  // Dead-lettering happens lazily at receive time (as in SQS); listing or counting runs it too so a
  // quiet queue still reports exhausted messages as dead.
  private deadLetterExhausted(): void {
    const now = this.now();
    this.db
      .prepare(
        `UPDATE messages SET dead_at = ?, receipt = NULL
         WHERE dead_at IS NULL AND visible_at <= ? AND receive_count >= ?`,
      )
      .run(now, now, this.maxReceives);
  }

  async stats(): Promise<QueueStats> {
    this.assertOpen();
    this.deadLetterExhausted();
    const row = this.db
      .prepare(
        `SELECT
           SUM(dead_at IS NULL AND visible_at <= @now) AS visible,
           SUM(dead_at IS NULL AND visible_at > @now AND receipt IS NOT NULL) AS inFlight,
           SUM(dead_at IS NULL AND visible_at > @now AND receipt IS NULL) AS delayed,
           SUM(dead_at IS NOT NULL) AS dead
         FROM messages`,
      )
      .get({ now: this.now() }) as Record<keyof QueueStats, number | null>;
    return { visible: row.visible ?? 0, inFlight: row.inFlight ?? 0, delayed: row.delayed ?? 0, dead: row.dead ?? 0 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error("The queue is closed; create a new SqliteQueue to use it again.");
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
