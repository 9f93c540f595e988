import type { Queue } from "bullmq";
import type { Logger } from "../core/logger.js";
import { expireReservations } from "../ledger/expire-reservations.js";
import type { Database } from "../prisma/database.js";
import { usageRunJobId, usageRunJobOptions } from "./metering-queues.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

interface RunRow {
  org_id: string; run_id: string; usage_type: UsageRunPayload["kind"]; event_id: number; user_id: string | null; photo_ids: string[];
}

const toPayload = (row: RunRow): UsageRunPayload => ({
  orgId: row.org_id, runId: row.run_id, kind: row.usage_type, eventId: row.event_id, userId: row.user_id, photoIds: row.photo_ids,
});

export interface SupervisorTick {
  expiredHolds: number;
  resumedOrgs: string[];
  requeuedRuns: number;
  recoveredRuns: number;
}

/**
 * What keeps metering going without anyone watching: gives back expired
 * holds, resumes paused orgs that got credits, enqueues their parked runs in
 * their original order, and enqueues again runs that Redis lost. Every step is
 * idempotent, so any number of worker processes may run it.
 */
export async function superviseMetering(
  deps: { db: Database; queue: Queue<UsageRunPayload>; logger: Logger },
  options: { reconcileAfterMs: number },
): Promise<SupervisorTick> {
  const expired = await expireReservations(deps.db);

  const resumed = await deps.db.pool.query<{ id: string }>(
    `UPDATE organisation o SET processing_state = 'ACTIVE', paused_at = NULL, paused_after_transaction_id = NULL
     WHERE o.processing_state = 'PAUSED'
       AND EXISTS (SELECT 1 FROM credit_transaction t
                   WHERE t.org_id = o.id AND t.type <> 'USAGE' AND t.id > COALESCE(o.paused_after_transaction_id, 0))
     RETURNING o.id`,
  );
  for (const { id } of resumed.rows) deps.logger.info({ orgId: id }, "credits added: processing resumed");

  const requeued = await deps.db.pool.query<RunRow & { sequence: string }>(
    `WITH claimed AS (
       SELECT u.org_id, u.run_id, u.usage_type FROM usage_run u JOIN organisation o ON o.id = u.org_id
       WHERE u.status = 'PARKED' AND o.processing_state = 'ACTIVE'
       ORDER BY u.sequence LIMIT 1000 FOR UPDATE OF u SKIP LOCKED)
     UPDATE usage_run u SET status = 'QUEUED', parked_at = NULL, updated_at = now()
     FROM claimed c WHERE u.org_id = c.org_id AND u.run_id = c.run_id AND u.usage_type = c.usage_type
     RETURNING u.org_id, u.run_id, u.usage_type, u.event_id, u.user_id, u.photo_ids, u.sequence`,
  );
  const inOrder = requeued.rows.sort((a, b) => Number(BigInt(a.sequence) - BigInt(b.sequence))).map(toPayload);
  if (inOrder.length > 0) {
    await deps.queue.addBulk(inOrder.map((run) => ({ name: run.kind, data: run, opts: { ...usageRunJobOptions, jobId: usageRunJobId(run) } })));
    deps.logger.info({ runs: inOrder.length }, "parked runs enqueued again");
  }

  const stale = await deps.db.pool.query<RunRow>(
    `UPDATE usage_run u SET updated_at = now()
     FROM (SELECT org_id, run_id, usage_type FROM usage_run
           WHERE status IN ('QUEUED', 'RUNNING') AND updated_at < now() - $1 * interval '1 millisecond'
           ORDER BY sequence LIMIT 500 FOR UPDATE SKIP LOCKED) s
     WHERE u.org_id = s.org_id AND u.run_id = s.run_id AND u.usage_type = s.usage_type
     RETURNING u.org_id, u.run_id, u.usage_type, u.event_id, u.user_id, u.photo_ids`,
    [options.reconcileAfterMs],
  );
  let recovered = 0;
  for (const run of stale.rows.map(toPayload)) {
    const jobId = usageRunJobId(run);
    const job = await deps.queue.getJob(jobId);
    const state = job ? await job.getState() : "missing";
    if (state === "missing" || state === "unknown" || state === "completed" || state === "failed") {
      if (job) await job.remove().catch(() => {});
      await deps.queue.add(run.kind, run, { ...usageRunJobOptions, jobId });
      recovered += 1;
      deps.logger.warn({ orgId: run.orgId, runId: run.runId, jobId, state }, "run had no live job: enqueued again");
    }
  }
  return { expiredHolds: expired.length, resumedOrgs: resumed.rows.map((row) => row.id), requeuedRuns: inOrder.length, recoveredRuns: recovered };
}
