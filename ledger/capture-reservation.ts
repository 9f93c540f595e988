import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction, toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const captureReservationInput = z.strictObject({
  orgId: input.orgId,
  key: input.idempotencyKey,
  creditsUsed: input.creditsNotNegative,
});
export type CaptureReservationInput = z.input<typeof captureReservationInput>;

export interface Capture {
  /** The Usage transaction; null when nothing was used. */
  transactionId: string | null;
  creditsCaptured: number;
  creditsReleased: number;
  balanceAfter: number;
  replayed: boolean;
}

/**
 * Charges the used part of a held reservation as one Usage transaction, drawn
 * from the org's lots oldest first, and releases the rest of the hold.
 */
export async function captureReservation(db: Database, request: CaptureReservationInput): Promise<Capture> {
  const capture = parseInput(captureReservationInput, request, "capture");
  const [row] = await callLedgerFunction<{
    transaction_id: string | null; credits_captured: number; credits_released: number; balance_after: string; replayed: boolean;
  }>(
    db,
    "SELECT * FROM ledger_capture($1, $2, $3)",
    [capture.orgId, capture.key, capture.creditsUsed],
    { orgId: capture.orgId, key: capture.key },
  );
  return {
    transactionId: row!.transaction_id,
    creditsCaptured: row!.credits_captured,
    creditsReleased: row!.credits_released,
    balanceAfter: toCredits(row!.balance_after),
    replayed: row!.replayed,
  };
}
