import type { Queue } from "bullmq";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import { toLedgerError } from "../ledger/ledger-error.js";
import type { Database } from "../prisma/database.js";
import { usageRunFingerprint, usageRunJobId, usageRunJobOptions } from "./metering-queues.js";
import { usageRunPayload, type UsageRunPayload } from "./usage-run-payload.js";

export interface EnqueuedRun {
  jobId: string;
  /** QUEUED: a job is waiting for it; PARKED: it waits for credits; COMPLETED/FAILED: nothing to do. */
  status: "QUEUED" | "RUNNING" | "PARKED" | "COMPLETED" | "FAILED";
  alreadyKnown: boolean;
}

/**
 * The producer API: records the run in PostgreSQL (the source of truth, so
 * a Redis that loses its queue loses no run) and enqueues its job. Enqueueing
 * the same run again is harmless; the same run id with other photos is refused.
 */
export async function enqueueUsageRun(deps: { db: Database; queue: Queue<UsageRunPayload> }, payload: unknown): Promise<EnqueuedRun> {
  const run = parseInput(usageRunPayload, payload, "usage run");
  const runFingerprint = usageRunFingerprint(run);
  const context = { orgId: run.orgId, eventId: run.eventId, userId: run.userId, runId: run.runId };
  let row: { status: EnqueuedRun["status"]; request_fingerprint: string; inserted: boolean } | undefined;
  try {
    const result = await deps.db.pool.query(
      `INSERT INTO usage_run AS u (org_id, run_id, usage_type, event_id, user_id, photo_ids, request_fingerprint)
       VALUES ($1, $2, $3::usage_type, $4, $5, $6::text[], $7)
       ON CONFLICT (org_id, run_id, usage_type) DO UPDATE SET updated_at = u.updated_at
       RETURNING status, request_fingerprint, (xmax = 0) AS inserted`,
      [run.orgId, run.runId, run.kind, run.eventId, run.userId, run.photoIds, runFingerprint],
    );
    row = result.rows[0];
  } catch (error) {
    throw await explainMissingEvent(deps.db, toLedgerError(error, context), run.orgId);
  }
  if (row!.request_fingerprint !== runFingerprint) {
    throw new AppError("IDEMPOTENCY_CONFLICT", `run "${run.runId}" (${run.kind}) was already enqueued with other photos, event or user`, {
      details: context,
    });
  }
  const jobId = usageRunJobId(run);
  if (row!.status === "QUEUED" || row!.status === "RUNNING") {
    try {
      await deps.queue.add(run.kind, run, { ...usageRunJobOptions, jobId });
    } catch (error) {
      // The run is recorded: the supervisor enqueues it once the queue is back.
      throw new AppError("QUEUE_UNAVAILABLE", `run "${run.runId}" is recorded but could not be enqueued: ${(error as Error).message}`, {
        details: context,
        cause: error,
      });
    }
  }
  return { jobId, status: row!.status, alreadyKnown: !row!.inserted };
}

/** An event that is "not found in the org" may be so because the org itself does not exist: say which. */
export async function explainMissingEvent(db: Database, error: unknown, orgId: string): Promise<unknown> {
  if (!(error instanceof AppError) || error.code !== "EVENT_NOT_FOUND") return error;
  const org = await db.pool.query("SELECT 1 FROM organisation WHERE id = $1", [orgId]);
  return org.rowCount === 0 ? new AppError("ORG_NOT_FOUND", `organisation ${orgId} not found`, { details: error.details, cause: error }) : error;
}
