import type { Queue } from "bullmq";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { statementJobId, statementJobOptions, type StatementPayload } from "../reports/statement-queue.js";

/**
 * One statements tick: every org whose local time has passed the send time
 * on the 1st gets its statement for the month before recorded (once: unique
 * per org and month), and every statement not yet sent gets its delivery job
 * (one in flight per statement). Run hourly and at start-up, so a scheduler
 * that was down on the 1st catches up when it comes back.
 */
export async function enqueueDueStatements(
  deps: { db: Database; queue: Queue<StatementPayload>; logger: Logger },
  options: { now: Date; sendAt: string; messageDomain: string; attempts: number; backoffMs: number },
): Promise<{ created: number; enqueued: number }> {
  const created = await deps.db.pool.query(
    `WITH local AS (
       SELECT o.id, o.time_zone, date_trunc('month', $1::timestamptz AT TIME ZONE o.time_zone) AS month_start,
              $1::timestamptz AT TIME ZONE o.time_zone AS local_now, o.created_at
       FROM organisation o)
     INSERT INTO statement (org_id, month, message_id)
     SELECT l.id, to_char(l.month_start - interval '1 month', 'YYYY-MM'),
            '<statement.' || l.id || '.' || to_char(l.month_start - interval '1 month', 'YYYY-MM') || '@' || $3 || '>'
     FROM local l
     WHERE l.local_now >= l.month_start + $2::interval
       AND l.created_at < l.month_start AT TIME ZONE l.time_zone
     ON CONFLICT (org_id, month) DO NOTHING
     RETURNING org_id`,
    [options.now, `${options.sendAt}:00`, options.messageDomain],
  );
  const open = await deps.db.pool.query<{ org_id: string; month: string }>(
    "SELECT org_id, month FROM statement WHERE status IN ('PENDING', 'SENDING') ORDER BY created_at LIMIT 50000",
  );
  if (open.rows.length > 0) {
    const jobOptions = statementJobOptions(options.attempts, options.backoffMs);
    for (let start = 0; start < open.rows.length; start += 1_000) {
      await deps.queue.addBulk(open.rows.slice(start, start + 1_000).map((row) => {
        const payload = { orgId: row.org_id, month: row.month };
        return { name: "deliver-statement", data: payload, opts: { ...jobOptions, jobId: statementJobId(payload) } };
      }));
    }
  }
  deps.logger.info({ task: "monthly-statements", created: created.rowCount, open: open.rows.length }, "statements tick");
  return { created: created.rowCount ?? 0, enqueued: open.rows.length };
}
