// Queue timing defaults shared by both drivers, the worker and the infra stack.
// Drivers accept overrides in their constructor options so tests can run on short timeouts.

/** Seconds a received message stays invisible before another worker may take it. */
export const VISIBILITY_TIMEOUT_S = 120;
/** Seconds between heartbeats that extend a running job's lease; well below the visibility timeout
 * so one late heartbeat does not let a second worker pick the job up. */
export const HEARTBEAT_INTERVAL_S = 30;
/** Receives without an ack before a message is moved to the dead-letter queue (SQS maxReceiveCount). */
export const MAX_RECEIVES = 3;
/** Longest wait of one receive call (SQS caps long polling at 20 s). */
export const LONG_POLL_S = 20;
