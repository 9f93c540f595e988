import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction, toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const grantCreditsInput = z.strictObject({
  orgId: input.orgId,
  type: input.additionType,
  credits: input.positiveCredits,
  idempotencyKey: input.transactionKey,
  userId: input.userId,
  reference: input.reference,
});
export type GrantCreditsInput = z.input<typeof grantCreditsInput>;

export interface CreditTransactionResult {
  transactionId: string;
  balanceAfter: number;
  /** True when this key had already been applied and nothing changed now. */
  replayed: boolean;
}

/** Adds credits (a Purchase, an Admin Grant or Free Credits) as a new lot. */
export async function grantCredits(db: Database, request: GrantCreditsInput): Promise<CreditTransactionResult> {
  const grant = parseInput(grantCreditsInput, request, "credit grant");
  const [row] = await callLedgerFunction<{ transaction_id: string; balance_after: string; replayed: boolean }>(
    db,
    "SELECT * FROM ledger_grant($1, $2::credit_transaction_type, $3, $4, $5, $6, $7)",
    [
      grant.orgId, grant.type, grant.credits, grant.idempotencyKey,
      input.fingerprint("grant", grant.type, grant.credits, grant.userId, grant.reference),
      grant.userId, grant.reference,
    ],
    { orgId: grant.orgId, userId: grant.userId, idempotencyKey: grant.idempotencyKey },
  );
  return { transactionId: row!.transaction_id, balanceAfter: toCredits(row!.balance_after), replayed: row!.replayed };
}
