import type { Queue } from "bullmq";
import type { Database } from "../prisma/database.js";

export interface QueueHealth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Runs waiting for their org's credits (kept in PostgreSQL, not in the queue). */
  parked: number;
}

export async function queueHealth(deps: { db: Database; queue: Queue }): Promise<QueueHealth> {
  const [counts, parked] = await Promise.all([
    deps.queue.getJobCounts("waiting", "active", "delayed", "failed", "prioritized"),
    deps.db.pool.query<{ runs: string }>("SELECT count(*) AS runs FROM usage_run WHERE status = 'PARKED'"),
  ]);
  return {
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    parked: Number(parked.rows[0]!.runs),
  };
}

export interface ParkedRuns {
  orgId: string;
  orgName: string;
  processingState: string;
  runs: number;
  photosWaiting: number;
  oldestParkedAt: Date;
}

/** Parked runs per org, the longest-waiting org first. */
export async function listParkedRuns(db: Database): Promise<ParkedRuns[]> {
  const { rows } = await db.pool.query<{
    org_id: string; org_name: string; processing_state: string; runs: string; photos_waiting: string; oldest_parked_at: Date;
  }>(
    `SELECT u.org_id, o.name AS org_name, o.processing_state, count(*) AS runs,
            sum(cardinality(u.photo_ids) - (SELECT count(*) FROM photo_charge c WHERE c.run_sequence = u.sequence)
                 - cardinality(u.failed_photo_ids)) AS photos_waiting,
            min(u.parked_at) AS oldest_parked_at
     FROM usage_run u JOIN organisation o ON o.id = u.org_id
     WHERE u.status = 'PARKED'
     GROUP BY u.org_id, o.name, o.processing_state
     ORDER BY oldest_parked_at`,
  );
  return rows.map((row) => ({
    orgId: row.org_id, orgName: row.org_name, processingState: row.processing_state,
    runs: Number(row.runs), photosWaiting: Number(row.photos_waiting), oldestParkedAt: row.oldest_parked_at,
  }));
}
