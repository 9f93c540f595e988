import type { Queue } from "bullmq";
import type { Logger } from "../core/logger.js";
import { expireReservations } from "../ledger/expire-reservations.js";
import { creditsPerPhoto } from "../ledger/usage-prices.js";
import type { Database } from "../prisma/database.js";
import { usageRunJobId, usageRunJobOptions } from "./metering-queues.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

interface RunRow {
  org_id: string; run_id: string; usage_type: UsageRunPayload["kind"]; event_id: number; user_id: string | null; photo_ids: string[];
}

const toPayload = (row: RunRow): UsageRunPayload => ({
  orgId: row.org_id, runId: row.run_id, kind: row.usage_type, eventId: row.event_id, userId: row.user_id, photoIds: row.photo_ids,
});

const lostRunsPage = 500;

export interface SupervisorTick {
  expiredHolds: number;
  resumedOrgs: string[];
  requeuedRuns: number;
  recoveredRuns: number;
  /** The look for lost runs read a full page: more may be waiting, so look again next tick. */
  moreRunsToCheck: boolean;
  pauseNotices: number;
}

/**
 * What keeps metering going without anyone watching: gives back expired
 * holds, resumes paused orgs that got credits, enqueues their parked runs in
 * their original order, and enqueues again runs that Redis lost. Every step is
 * idempotent, so any number of worker processes may run it.
 */
export async function superviseMetering(
  deps: { db: Database; queue: Queue<UsageRunPayload>; logger: Logger; notifyPaused(orgId: string, pausedAt: Date): Promise<void> },
  options: {
    reconcileAfterMs: number;
    pauseNoticeGraceMs: number;
    /** Look for runs Redis lost in this tick (a run is lost only after reconcileAfterMs, so not every tick need look). */
    lookForLostRuns?: boolean;
  },
): Promise<SupervisorTick> {
  const expired = await expireReservations(deps.db);

  // An org pauses when its balance cannot pay for a photo; only an addition
  // raises the balance, so this is "credits were added since the pause".
  // Orgs locked in id order, as metering batches lock them.
  const resumed = await deps.db.pool.query<{ id: string }>(
    `UPDATE organisation o SET processing_state = 'ACTIVE'
     FROM (SELECT id FROM organisation WHERE processing_state = 'PAUSED' AND balance_credits - reserved_credits >= $1
           ORDER BY id FOR NO KEY UPDATE) AS paused
     WHERE o.id = paused.id
     RETURNING o.id`,
    [Math.min(...Object.values(creditsPerPhoto))],
  );
  for (const { id } of resumed.rows) deps.logger.info({ orgId: id }, "credits added: processing resumed");

  const requeued = await deps.db.pool.query<RunRow & { sequence: string; parked_at: Date }>(
    `WITH claimed AS (
       SELECT u.org_id, u.run_id, u.usage_type, u.parked_at FROM usage_run u JOIN organisation o ON o.id = u.org_id
       WHERE u.status = 'PARKED' AND o.processing_state = 'ACTIVE'
       ORDER BY u.sequence LIMIT 1000 FOR UPDATE OF u SKIP LOCKED)
     UPDATE usage_run u SET status = 'QUEUED', parked_at = NULL, updated_at = now()
     FROM claimed c WHERE u.org_id = c.org_id AND u.run_id = c.run_id AND u.usage_type = c.usage_type
     RETURNING u.org_id, u.run_id, u.usage_type, u.event_id, u.user_id, u.photo_ids, u.sequence, c.parked_at`,
  );
  const inOrder = requeued.rows.sort((a, b) => Number(BigInt(a.sequence) - BigInt(b.sequence)));
  if (inOrder.length > 0) {
    // A job id of its own per parking: the job that parked the run may not be gone yet.
    await deps.queue.addBulk(inOrder.map((row) => {
      const run = toPayload(row);
      return { name: run.kind, data: run, opts: { ...usageRunJobOptions, jobId: `${usageRunJobId(run)}.resumed-${row.parked_at.getTime()}` } };
    }));
    deps.logger.info({ runs: inOrder.length }, "parked runs enqueued again");
  }

  const stale = options.lookForLostRuns === false ? { rows: [] as RunRow[] } : await deps.db.pool.query<RunRow>(
    `UPDATE usage_run u SET updated_at = now()
     FROM (SELECT org_id, run_id, usage_type FROM usage_run
           WHERE status IN ('QUEUED', 'RUNNING') AND updated_at < now() - $1 * interval '1 millisecond'
           ORDER BY sequence LIMIT $2 FOR UPDATE SKIP LOCKED) s
     WHERE u.org_id = s.org_id AND u.run_id = s.run_id AND u.usage_type = s.usage_type
     RETURNING u.org_id, u.run_id, u.usage_type, u.event_id, u.user_id, u.photo_ids`,
    [options.reconcileAfterMs, lostRunsPage],
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
  // The pause email goes out from the job that paused the org; if that job
  // died before enqueueing it, this sends it (the job id is the pause's, so never twice at once).
  const unnoticed = await deps.db.pool.query<{ id: string; paused_at: Date }>(
    `SELECT id, paused_at FROM organisation
     WHERE processing_state = 'PAUSED' AND pause_notified_at IS DISTINCT FROM paused_at
       AND paused_at < now() - $1 * interval '1 millisecond'
     LIMIT 100`,
    [options.pauseNoticeGraceMs],
  );
  for (const org of unnoticed.rows) await deps.notifyPaused(org.id, org.paused_at);

  return {
    expiredHolds: expired.length, resumedOrgs: resumed.rows.map((row) => row.id), requeuedRuns: inOrder.length,
    recoveredRuns: recovered, moreRunsToCheck: stale.rows.length === lostRunsPage, pauseNotices: unnoticed.rows.length,
  };
}
