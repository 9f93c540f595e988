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
 * 1st in its time zone.
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
     )
     SELECT to_char(m.local_start, 'YYYY-MM') AS month, m.starts_at, m.ends_at, m.current,
            COALESCE(-sum(t.credits) FILTER (WHERE t.type = 'USAGE'), 0) AS credits_used,
            COALESCE(sum(t.credits) FILTER (WHERE t.credits > 0), 0) AS credits_added,
            count(t.id) FILTER (WHERE t.type = 'USAGE') AS usage_transaction_count
     FROM months m
     LEFT JOIN credit_transaction t ON t.org_id = $1 AND t.created_at >= m.starts_at AND t.created_at < m.ends_at
     GROUP BY m.local_start, m.starts_at, m.ends_at, m.current
     ORDER BY m.local_start DESC`,
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
