import type { Queue } from "bullmq";
import { z } from "zod";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import { toLedgerError } from "../ledger/ledger-error.js";
import type { Database } from "../prisma/database.js";
import { usageRunFingerprint, usageRunJobId, usageRunJobOptions } from "./metering-queues.js";
import { usageRunPayload, type UsageRunPayload } from "./usage-run-payload.js";

export interface EnqueuedRun {
  runId: string;
  jobId: string;
  /** QUEUED: a job is waiting for it; PARKED: it waits for credits; COMPLETED/FAILED: nothing to do. */
  status: "QUEUED" | "RUNNING" | "PARKED" | "COMPLETED" | "FAILED";
  alreadyKnown: boolean;
}

type Deps = { db: Database; queue: Queue<UsageRunPayload> };

/** The producer API for one run; see enqueueUsageRuns. */
export async function enqueueUsageRun(deps: Deps, payload: unknown): Promise<EnqueuedRun> {
  const [run] = await enqueueUsageRuns(deps, [payload]);
  return run!;
}

/**
 * The producer API: records runs in PostgreSQL (the source of truth, so a
 * Redis that loses its queue loses no run), then enqueues their jobs.
 * Enqueueing a run again is harmless; the same run id with other photos,
 * event or user is refused. All or nothing: an invalid run, an unknown event
 * or a conflicting run id records none of the batch.
 */
export async function enqueueUsageRuns(deps: Deps, payloads: unknown[]): Promise<EnqueuedRun[]> {
  parseInput(z.array(z.unknown()).min(1).max(10_000), payloads, "usage runs");
  const runs = payloads
    .map((payload, index) => parseInput(usageRunPayload, payload, payloads.length === 1 ? "usage run" : `usage run ${index}`))
    .map((run) => ({ ...run, fingerprint: usageRunFingerprint(run) }));
  const first = runs[0]!;
  const context = { orgId: first.orgId, eventId: first.eventId, userId: first.userId, runId: first.runId };
  const client = await deps.db.pool.connect();
  let rows: { run_id: string; usage_type: string; org_id: string; status: EnqueuedRun["status"]; request_fingerprint: string; inserted: boolean }[];
  try {
    await client.query("BEGIN");
    ({ rows } = await client.query(
      `INSERT INTO usage_run AS u (org_id, run_id, usage_type, event_id, user_id, photo_ids, request_fingerprint)
       SELECT r."orgId", r."runId", r.kind, r."eventId", r."userId", ARRAY(SELECT jsonb_array_elements_text(r."photoIds")), r.fingerprint
       FROM jsonb_to_recordset($1::jsonb) AS r("orgId" uuid, "runId" text, kind usage_type, "eventId" int, "userId" uuid, "photoIds" jsonb, fingerprint text)
       ORDER BY r."orgId", r."runId", r.kind  -- the workers start runs in this order too: no lock cycles
       ON CONFLICT (org_id, run_id, usage_type) DO UPDATE SET updated_at = u.updated_at
       RETURNING u.org_id, u.run_id, u.usage_type, u.status, usage_run_fingerprint_digest(u.request_fingerprint) AS request_fingerprint,
                 (xmax = 0) AS inserted`,
      [JSON.stringify(runs)],
    ));
    const known = new Map(rows.map((row) => [`${row.org_id}/${row.run_id}/${row.usage_type}`, row]));
    const conflicting = runs.filter((run) => known.get(`${run.orgId}/${run.runId}/${run.kind}`)?.request_fingerprint !== run.fingerprint);
    if (conflicting.length > 0) {
      throw new AppError("IDEMPOTENCY_CONFLICT",
        `run "${conflicting[0]!.runId}" (${conflicting[0]!.kind}) was already enqueued with other photos, event or user`, {
          details: { orgId: conflicting[0]!.orgId, runIds: conflicting.map((run) => run.runId) },
        });
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw await explainMissingEvent(deps.db, toLedgerError(error, context), first.orgId);
  } finally {
    client.release();
  }

  const byKey = new Map(rows.map((row) => [`${row.org_id}/${row.run_id}/${row.usage_type}`, row]));
  const results = runs.map((run): EnqueuedRun => {
    const row = byKey.get(`${run.orgId}/${run.runId}/${run.kind}`)!;
    return { runId: run.runId, jobId: usageRunJobId(run), status: row.status, alreadyKnown: !row.inserted };
  });
  const toQueue = runs.filter((_, index) => results[index]!.status === "QUEUED" || results[index]!.status === "RUNNING");
  try {
    if (toQueue.length > 0) {
      await deps.queue.addBulk(toQueue.map(({ fingerprint: _, ...run }) => ({
        name: run.kind, data: run, opts: { ...usageRunJobOptions, jobId: usageRunJobId(run) },
      })));
    }
  } catch (error) {
    // The runs are recorded: the supervisor enqueues them once the queue is back.
    throw new AppError("QUEUE_UNAVAILABLE", `runs are recorded but could not be enqueued: ${(error as Error).message}`, {
      details: context,
      cause: error,
    });
  }
  return results;
}

/** An event that is "not found in the org" may be so because the org itself does not exist: say which. */
export async function explainMissingEvent(db: Database, error: unknown, orgId: string): Promise<unknown> {
  if (!(error instanceof AppError) || error.code !== "EVENT_NOT_FOUND") return error;
  const org = await db.pool.query("SELECT 1 FROM organisation WHERE id = $1", [orgId]);
  return org.rowCount === 0 ? new AppError("ORG_NOT_FOUND", `organisation ${orgId} not found`, { details: error.details, cause: error }) : error;
}
