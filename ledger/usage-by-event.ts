import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const usageByEventInput = z.strictObject({
  orgId: input.orgId,
  from: z.date().optional(),
  to: z.date().optional(),
});

export interface EventUsage {
  eventId: number;
  eventName: string;
  creditsUsed: number;
  creditsRefunded: number;
  /** Processing runs; a run that paused and resumed counts once. */
  runs: number;
}

/** Credits used per event in [from, to), largest first. */
export async function usageByEvent(db: Database, request: z.input<typeof usageByEventInput>): Promise<EventUsage[]> {
  const query = parseInput(usageByEventInput, request, "usage by event query");
  const result = await db.pool.query<{
    event_id: number; event_name: string; credits_used: string; credits_refunded: string; runs: string;
  }>(
    `SELECT t.event_id, e.name AS event_name,
            COALESCE(-sum(t.credits) FILTER (WHERE t.type = 'USAGE'), 0) AS credits_used,
            COALESCE(sum(t.credits) FILTER (WHERE t.type = 'REFUND'), 0) AS credits_refunded,
            count(DISTINCT COALESCE(t.reference, t.id::text)) FILTER (WHERE t.type = 'USAGE') AS runs
     FROM credit_transaction t JOIN event e ON e.id = t.event_id
     WHERE t.org_id = $1 AND t.type IN ('USAGE', 'REFUND')
       AND ($2::timestamptz IS NULL OR t.created_at >= $2) AND ($3::timestamptz IS NULL OR t.created_at < $3)
     GROUP BY t.event_id, e.name
     ORDER BY credits_used DESC, t.event_id`,
    [query.orgId, query.from ?? null, query.to ?? null],
  );
  return result.rows.map((row) => ({
    eventId: row.event_id,
    eventName: row.event_name,
    creditsUsed: toCredits(row.credits_used),
    creditsRefunded: toCredits(row.credits_refunded),
    runs: toCredits(row.runs),
  }));
}
