import type { Database } from "../prisma/database.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

/**
 * Pauses the org's processing if its balance cannot pay for one more photo.
 * The balance, not the available credits: credits held by other runs come
 * back or get charged, so they never pause an org (a run that cannot reserve
 * them parks and is enqueued again). Only a credit addition raises the
 * balance, so a paused org resumes on an addition and never flaps. Returns
 * when it paused, only to the one caller that paused it: one pause, one email.
 */
export async function pauseIfOutOfCredits(db: Database, orgId: string, creditsPerPhoto: number): Promise<Date | null> {
  const { rows } = await db.pool.query<{ paused_at: Date }>(
    `UPDATE organisation SET processing_state = 'PAUSED', paused_at = now()
     WHERE id = $1 AND processing_state = 'ACTIVE' AND balance_credits < $2
     RETURNING paused_at`,
    [orgId, creditsPerPhoto],
  );
  return rows[0]?.paused_at ?? null;
}

/** Whether a run must wait: its org is paused, or older runs of the org are parked. */
export async function mustPark(db: Database, run: UsageRunPayload): Promise<boolean> {
  const { rows } = await db.pool.query<{ must_park: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM organisation WHERE id = $1 AND processing_state = 'PAUSED')
         OR EXISTS (SELECT 1 FROM usage_run p, usage_run me
                    WHERE me.org_id = $1 AND me.run_id = $2 AND me.usage_type = $3::usage_type
                      AND p.org_id = $1 AND p.status = 'PARKED' AND p.sequence < me.sequence) AS must_park`,
    [run.orgId, run.runId, run.kind],
  );
  return rows[0]!.must_park;
}

/** Parks a run: it is neither failed nor retried; the supervisor enqueues it again when the org resumes. */
export async function parkUsageRun(db: Database, run: UsageRunPayload): Promise<void> {
  await db.pool.query(
    `UPDATE usage_run SET status = 'PARKED', parked_at = now(), updated_at = now()
     WHERE org_id = $1 AND run_id = $2 AND usage_type = $3::usage_type AND status IN ('QUEUED', 'RUNNING')`,
    [run.orgId, run.runId, run.kind],
  );
}

export async function completeUsageRun(db: Database, run: UsageRunPayload): Promise<void> {
  await db.pool.query(
    `UPDATE usage_run SET status = 'COMPLETED', completed_at = now(), updated_at = now()
     WHERE org_id = $1 AND run_id = $2 AND usage_type = $3::usage_type AND status IN ('QUEUED', 'RUNNING', 'PARKED')`,
    [run.orgId, run.runId, run.kind],
  );
}

export async function failUsageRun(db: Database, run: UsageRunPayload, reason: string): Promise<void> {
  await db.pool.query(
    `UPDATE usage_run SET status = 'FAILED', failure_reason = $4, updated_at = now()
     WHERE org_id = $1 AND run_id = $2 AND usage_type = $3::usage_type AND status IN ('QUEUED', 'RUNNING')`,
    [run.orgId, run.runId, run.kind, reason.slice(0, 1000)],
  );
}
