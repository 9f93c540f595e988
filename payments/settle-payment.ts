import { callLedgerFunction } from "../ledger/call-ledger-function.js";
import type { Database } from "../prisma/database.js";

export type PaymentStatus = "PENDING" | "SUCCEEDED" | "FAILED" | "NEEDS_ATTENTION";
export type CheckSource = "purchase" | "webhook" | "scheduled" | "manual";

export interface Settlement {
  oldStatus: PaymentStatus;
  newStatus: PaymentStatus;
  creditsAdded: number;
  invoiceNumber: string | null;
}

/**
 * Settles a payment with the provider's outcome. On success: a Purchase in
 * the ledger (and its lot) and one invoice, in one transaction. A settled
 * payment is left as it is, so any number of settlers may race.
 */
export async function settlePayment(
  db: Database,
  request: { paymentId: string; succeeded: boolean; reference?: string | null; reason?: string | null; source: CheckSource; tick?: string | null },
): Promise<Settlement> {
  const [row] = await callLedgerFunction<{ old_status: PaymentStatus; new_status: PaymentStatus; credits_added: number; invoice_number: string | null }>(
    db,
    "SELECT * FROM payment_settle($1, $2, $3, $4, $5, $6)",
    [request.paymentId, request.succeeded, request.reference ?? null, request.reason ?? null, request.source, request.tick ?? null],
    { paymentId: request.paymentId },
  );
  return { oldStatus: row!.old_status, newStatus: row!.new_status, creditsAdded: row!.credits_added, invoiceNumber: row!.invoice_number };
}
