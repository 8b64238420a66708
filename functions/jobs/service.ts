// The job service: the one door through which frontends create, read and cancel jobs.
// Implemented over a Queue and a Store (functions/jobs/job-service.ts); frontends (bot/) and the
// ingress depend on this interface only.
import type { JobEvents, JobRecord, JobRequestInput } from "./model.js";

export interface SubmitResult {
  job: JobRecord;
  /** false when a job with the same idempotency key already existed (nothing new was enqueued). */
  created: boolean;
  /** 1-based position among queued jobs, when known. */
  position?: number;
}

export class JobRejectedError extends Error {
  constructor(
    message: string,
    /** "invalid" (bad input), "limit" (rate limit / caps), "unauthorized" */
    readonly reason: "invalid" | "limit" | "unauthorized",
  ) {
    super(message);
    this.name = "JobRejectedError";
  }
}

export interface JobService {
  /** Validates (zod), assigns id and seed, stores the record, enqueues. Throws JobRejectedError. */
  submit(request: JobRequestInput): Promise<SubmitResult>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Most recent first. */
  list(filter?: { requesterId?: string; status?: JobRecord["status"]; limit?: number }): Promise<JobRecord[]>;
  /** Cancels a queued job at once, or asks the worker to stop a running one. */
  cancel(id: string, by?: string): Promise<JobRecord | undefined>;
  /** Store an input image (validated) and return its key for JobRequest.imageKey. */
  putInputImage(bytes: Uint8Array, contentType?: string): Promise<string>;
  /** Subscribe to the events of every job (the web console's SSE and frontends use this). */
  subscribe(listener: (event: import("./model.js").JobEvent) => void): () => void;
  /** The sink the worker emits into; fans out to subscribers and to platform renderers. */
  readonly events: JobEvents;
}
