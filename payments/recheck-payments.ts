import { isAppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import type { PaymentProvider } from "./payment-provider.js";
import { recheckPayment, selectPaymentsToRecheck, type Recheck, type RecheckSelection } from "./recheck-payment.js";

export type RecheckRow = Partial<Recheck> & { paymentId: string; error?: string };

/**
 * Ops' manual recheck (the CLI and the API): one payment, every stuck one, or
 * every one that needs attention. One payment's error does not stop
 * the others; it is reported in its row.
 */
export async function recheckPayments(
  deps: { db: Database; provider: PaymentProvider; logger: Logger },
  selection: RecheckSelection,
  options: { maxPendingChecks: number; limit?: number },
): Promise<RecheckRow[]> {
  const rows: RecheckRow[] = [];
  for (const paymentId of await selectPaymentsToRecheck(deps.db, selection, options.limit)) {
    try {
      rows.push(await recheckPayment(deps, { paymentId, source: "manual", maxPendingChecks: options.maxPendingChecks }));
    } catch (error) {
      if (!isAppError(error)) throw error;
      rows.push({ paymentId, error: `${error.code}: ${error.message}` });
    }
  }
  return rows;
}
