import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const creditsUsedBySourceInput = z.strictObject({ orgId: input.orgId, from: z.date(), to: z.date() });

/**
 * How many of the credits used in [from, to) came from paid lots (purchases)
 * and how many from free ones (free credits and admin grants), net of refunds.
 */
export async function creditsUsedBySource(
  db: Database,
  request: z.input<typeof creditsUsedBySourceInput>,
): Promise<{ paidCredits: number; freeCredits: number }> {
  const query = parseInput(creditsUsedBySourceInput, request, "credits by source query");
  const result = await db.pool.query<{ paid: string; free: string }>(
    `SELECT COALESCE(-sum(m.credits) FILTER (WHERE l.source = 'PURCHASE'), 0) AS paid,
            COALESCE(-sum(m.credits) FILTER (WHERE l.source <> 'PURCHASE'), 0) AS free
     FROM credit_transaction t
     JOIN lot_movement m ON m.transaction_id = t.id
     JOIN credit_lot l ON l.id = m.lot_id
     WHERE t.org_id = $1 AND t.type IN ('USAGE', 'REFUND') AND t.created_at >= $2 AND t.created_at < $3`,
    [query.orgId, query.from, query.to],
  );
  const row = result.rows[0]!;
  return { paidCredits: toCredits(row.paid), freeCredits: toCredits(row.free) };
}
