import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction, toCredits } from "./call-ledger-function.js";
import type { CreditTransactionResult } from "./grant-credits.js";
import * as input from "./ledger-inputs.js";

export const refundUsageInput = z.strictObject({
  orgId: input.orgId,
  usageTransactionId: input.transactionId,
  credits: input.positiveCredits,
  idempotencyKey: input.transactionKey,
  userId: input.userId,
  reason: z.string({ error: "must be a string" }).trim().min(1, { error: "must say why" }).max(500),
});
export type RefundUsageInput = z.input<typeof refundUsageInput>;

/**
 * Gives back up to what a Usage transaction charged (less earlier refunds of
 * it), into the lots it drew on.
 */
export async function refundUsage(db: Database, request: RefundUsageInput): Promise<CreditTransactionResult> {
  const refund = parseInput(refundUsageInput, request, "refund");
  const [row] = await callLedgerFunction<{ transaction_id: string; balance_after: string; replayed: boolean }>(
    db,
    "SELECT * FROM ledger_refund($1, $2::bigint, $3, $4, $5, $6, $7)",
    [
      refund.orgId, refund.usageTransactionId, refund.credits, refund.idempotencyKey,
      input.fingerprint("refund", refund.usageTransactionId, refund.credits, refund.userId, refund.reason),
      refund.userId, refund.reason,
    ],
    { orgId: refund.orgId, userId: refund.userId, usageTransactionId: refund.usageTransactionId },
  );
  return { transactionId: row!.transaction_id, balanceAfter: toCredits(row!.balance_after), replayed: row!.replayed };
}
