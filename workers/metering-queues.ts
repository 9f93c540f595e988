import { createHash } from "node:crypto";
import { Queue, type ConnectionOptions, type JobsOptions } from "bullmq";
import { fingerprint } from "../ledger/ledger-inputs.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

export const meteringQueueName = "metering";
export const notificationQueueName = "notifications";

export interface QueueSettings {
  connection: ConnectionOptions;
  prefix: string;
}

export function queueSettings(config: { REDIS_URL: string; QUEUE_PREFIX: string }): QueueSettings {
  return { connection: { url: config.REDIS_URL, maxRetriesPerRequest: null }, prefix: config.QUEUE_PREFIX };
}

/** One job per run and kind: enqueueing the same run again while it waits or runs adds nothing. */
export function usageRunJobId(run: Pick<UsageRunPayload, "orgId" | "kind" | "runId">): string {
  return `run.${run.orgId}.${run.kind}.${run.runId}`;
}

/**
 * What a replayed enqueue of the same run must match: a digest, not the
 * photo list itself, which the run's row already holds once.
 */
export function usageRunFingerprint(run: UsageRunPayload): string {
  return `sha256:${createHash("sha256").update(fingerprint("usage-run", run.eventId, run.userId, run.photoIds)).digest("hex")}`;
}

export const usageRunJobOptions: JobsOptions = {
  attempts: 8,
  backoff: { type: "exponential", delay: 1_000 },
  // Completed jobs go at once, so that a parked run can be enqueued again under its id.
  removeOnComplete: true,
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * How the run workers hold their jobs: a job is a worker's for `lockDurationMs`
 * without a renewal, so a dead worker's jobs are noticed within one lock
 * duration and handed to a live one.
 */
export function usageRunWorkerSettings(lockDurationMs = 30_000) {
  return { lockDuration: lockDurationMs, stalledInterval: lockDurationMs, maxStalledCount: 5 };
}

export function createMeteringQueue(settings: QueueSettings): Queue<UsageRunPayload> {
  return new Queue<UsageRunPayload>(meteringQueueName, { connection: settings.connection, prefix: settings.prefix });
}
