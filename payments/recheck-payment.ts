import { AppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import type { PaymentProvider } from "./payment-provider.js";
import { settlePayment, type CheckSource, type PaymentStatus } from "./settle-payment.js";

export interface Recheck {
  paymentId: string;
  oldStatus: PaymentStatus;
  newStatus: PaymentStatus;
  creditsAdded: number;
  invoiceNumber: string | null;
}

/**
 * Asks the provider how a payment ended and settles it. A payment that never
 * got its intent (the provider was unreachable at purchase) gets it now, under
 * the same idempotency key, so it cannot be charged twice. Still pending: the
 * check is counted, and after `maxPendingChecks` scheduled ones the payment
 * needs attention. Provider errors are thrown (retryable) for the caller to retry.
 */
export async function recheckPayment(
  deps: { db: Database; provider: PaymentProvider; logger: Logger },
  request: { paymentId: string; source: Exclude<CheckSource, "purchase" | "webhook">; tick?: string | null; maxPendingChecks: number },
): Promise<Recheck> {
  const payment = await deps.db.prisma.payment.findUnique({ where: { id: request.paymentId } });
  if (!payment) throw new AppError("PAYMENT_NOT_FOUND", `payment ${request.paymentId} not found`);
  if (payment.status === "SUCCEEDED" || payment.status === "FAILED") {
    const settled = await settlePayment(deps.db, { paymentId: payment.id, succeeded: payment.status === "SUCCEEDED", source: request.source, tick: request.tick });
    return { paymentId: payment.id, ...settled };
  }
  const intent = payment.providerIntentId
    ? await deps.provider.getIntent(payment.providerIntentId)
    : await deps.provider.createIntent({ idempotencyKey: payment.id, amountMinor: payment.totalMinor, currency: payment.currency, paymentId: payment.id });
  if (!payment.providerIntentId) {
    await deps.db.pool.query("UPDATE payment SET provider_intent_id = $2 WHERE id = $1 AND provider_intent_id IS NULL", [payment.id, intent.intentId]);
  }
  if (intent.status !== "pending") {
    const settled = await settlePayment(deps.db, {
      paymentId: payment.id, succeeded: intent.status === "succeeded", reference: intent.intentId,
      reason: intent.failureReason ?? null, source: request.source, tick: request.tick,
    });
    deps.logger.info({ orgId: payment.orgId, paymentId: payment.id, ...settled }, "payment settled by recheck");
    return { paymentId: payment.id, ...settled };
  }
  const { rows } = await deps.db.pool.query<{ old_status: PaymentStatus; new_status: PaymentStatus }>(
    `WITH before AS (SELECT status FROM payment WHERE id = $1 FOR UPDATE),
     updated AS (
       UPDATE payment SET pending_checks = pending_checks + 1, last_checked_at = now(),
         status = CASE WHEN status = 'PENDING' AND $2 AND pending_checks + 1 >= $3 THEN 'NEEDS_ATTENTION'::payment_status ELSE status END
       WHERE id = $1 RETURNING status)
     INSERT INTO payment_check (payment_id, source, tick, old_status, new_status, detail)
     SELECT $1, $4, $5, before.status, updated.status, 'still pending at the provider' FROM before, updated
     RETURNING old_status, new_status`,
    [payment.id, request.source === "scheduled", request.maxPendingChecks, request.source, request.tick ?? null],
  );
  const { old_status: oldStatus, new_status: newStatus } = rows[0]!;
  if (newStatus === "NEEDS_ATTENTION" && oldStatus !== "NEEDS_ATTENTION") {
    deps.logger.error({ orgId: payment.orgId, paymentId: payment.id, checks: request.maxPendingChecks },
      "PAYMENT NEEDS ATTENTION: still pending at the provider after every scheduled recheck");
  }
  return { paymentId: payment.id, oldStatus, newStatus, creditsAdded: 0, invoiceNumber: null };
}

/** Which payments ops can recheck at once; an org's admin picks among the org's own. */
export type RecheckSelection = { paymentId: string } | { stuckAfterMs: number; orgId?: string } | { needsAttention: true; orgId?: string };

export async function selectPaymentsToRecheck(db: Database, selection: RecheckSelection, limit = 1_000): Promise<string[]> {
  if ("paymentId" in selection) return [selection.paymentId];
  const { rows } = "needsAttention" in selection
    ? await db.pool.query<{ id: string }>(
        "SELECT id FROM payment WHERE status = 'NEEDS_ATTENTION' AND ($2::uuid IS NULL OR org_id = $2) ORDER BY created_at LIMIT $1",
        [limit, selection.orgId ?? null],
      )
    : await db.pool.query<{ id: string }>(
        `SELECT id FROM payment WHERE status = 'PENDING' AND created_at < now() - $1 * interval '1 millisecond'
           AND ($3::uuid IS NULL OR org_id = $3) ORDER BY created_at LIMIT $2`,
        [selection.stuckAfterMs, limit, selection.orgId ?? null],
      );
  return rows.map((row) => row.id);
}
