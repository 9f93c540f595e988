import { z } from "zod";
import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const monthlySummaryInput = z.strictObject({
  orgId: input.orgId,
  /** The newest month shown is the one containing this instant (default: now). */
  asOf: z.date().optional(),
  months: z.number().int().min(1).max(36).default(4),
});

export interface MonthSummary {
  /** YYYY-MM in the org's time zone. */
  month: string;
  startsAt: Date;
  endsAt: Date;
  creditsUsed: number;
  /** Purchases, admin grants, free credits and refunds. */
  creditsAdded: number;
  netCredits: number;
  usageTransactionCount: number;
  /** The month the org is in now. */
  current: boolean;
}

/**
 * The Credits page's cards: the month containing `asOf` and the ones before
 * it, newest first. Months are the org's: they start at local midnight on the
 * 1st in its time zone. Read from the hourly totals, so the cost does not grow
 * with the ledger.
 */
export async function monthlySummary(db: Database, request: z.input<typeof monthlySummaryInput>): Promise<MonthSummary[]> {
  const query = parseInput(monthlySummaryInput, request, "monthly summary query");
  const result = await db.pool.query<{
    month: string; starts_at: Date; ends_at: Date; credits_used: string; credits_added: string;
    usage_transaction_count: string; current: boolean;
  }>(
    `WITH org AS (SELECT time_zone AS zone FROM organisation WHERE id = $1),
     months AS (
       SELECT local_start,
              local_start AT TIME ZONE org.zone AS starts_at,
              (local_start + interval '1 month') AT TIME ZONE org.zone AS ends_at,
              local_start = date_trunc('month', now() AT TIME ZONE org.zone) AS current
       FROM org, generate_series(
         date_trunc('month', $2::timestamptz AT TIME ZONE org.zone) - ($3::int - 1) * interval '1 month',
         date_trunc('month', $2::timestamptz AT TIME ZONE org.zone),
         interval '1 month') AS local_start
     ),
     bounds AS (
       -- Whole UTC hours inside the month come from the hourly totals; a zone
       -- whose offset is not whole hours leaves a part-hour at either end,
       -- read from the ledger itself.
       SELECT m.*,
              CASE WHEN date_trunc('hour', m.starts_at, 'UTC') = m.starts_at THEN m.starts_at
                   ELSE date_trunc('hour', m.starts_at, 'UTC') + interval '1 hour' END AS hours_from,
              date_trunc('hour', m.ends_at, 'UTC') AS hours_to
       FROM months m
     )
     SELECT to_char(b.local_start, 'YYYY-MM') AS month, b.starts_at, b.ends_at, b.current,
            hours.used + edges.used AS credits_used,
            hours.added + edges.added AS credits_added,
            hours.usages + edges.usages AS usage_transaction_count
     FROM bounds b
     CROSS JOIN LATERAL (
       SELECT COALESCE(sum(h.credits_used), 0) AS used, COALESCE(sum(h.credits_added), 0) AS added,
              COALESCE(sum(h.usage_transactions), 0) AS usages
       FROM credit_hour_total h
       WHERE h.org_id = $1 AND h.hour_start >= b.hours_from AND h.hour_start < b.hours_to) AS hours
     CROSS JOIN LATERAL (
       SELECT COALESCE(-sum(t.credits) FILTER (WHERE t.type = 'USAGE'), 0) AS used,
              COALESCE(sum(t.credits) FILTER (WHERE t.credits > 0), 0) AS added,
              count(*) FILTER (WHERE t.type = 'USAGE') AS usages
       FROM (SELECT type, credits FROM credit_transaction
             WHERE org_id = $1 AND created_at >= b.starts_at AND created_at < b.hours_from
             UNION ALL
             SELECT type, credits FROM credit_transaction
             WHERE org_id = $1 AND created_at >= b.hours_to AND created_at < b.ends_at) AS t) AS edges
     ORDER BY b.local_start DESC`,
    [query.orgId, query.asOf ?? new Date(), query.months],
  );
  if (result.rows.length === 0) {
    throw new AppError("ORG_NOT_FOUND", `organisation ${query.orgId} not found`, { details: { orgId: query.orgId } });
  }
  return result.rows.map((row) => {
    const creditsUsed = toCredits(row.credits_used);
    const creditsAdded = toCredits(row.credits_added);
    return {
      month: row.month,
      startsAt: row.starts_at,
      endsAt: row.ends_at,
      creditsUsed,
      creditsAdded,
      netCredits: creditsAdded - creditsUsed,
      usageTransactionCount: toCredits(row.usage_transaction_count),
      current: row.current,
    };
  });
}
