import { z } from "zod";
import { AppError, isAppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { parseInput } from "../core/validation.js";
import { idempotencyKey, orgId } from "../ledger/ledger-inputs.js";
import type { Database } from "../prisma/database.js";
import { priceCredits } from "./money.js";
import type { PaymentProvider } from "./payment-provider.js";
import { settlePayment, type PaymentStatus } from "./settle-payment.js";

export interface PurchaseLimits {
  minCredits: number;
  maxCredits: number;
  taxRate: string;
}

export function purchaseCreditsInput(limits: PurchaseLimits) {
  return z.strictObject({
    orgId,
    userId: z.uuid({ error: "must be a user id (UUID)" }),
    credits: z
      .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be a number of credits") })
      .refine(Number.isInteger, { error: "must be a whole number of credits" })
      .refine((n) => n >= limits.minCredits, { error: `must be at least ${limits.minCredits.toLocaleString("en")}` })
      .refine((n) => n <= limits.maxCredits, { error: `must be at most ${limits.maxCredits.toLocaleString("en")}` }),
    /** Chosen by the caller (one per click of "Buy"): the same key never charges twice. */
    idempotencyKey,
  });
}

export interface Purchase {
  paymentId: string;
  status: PaymentStatus;
  credits: number;
  currency: string;
  totalMinor: bigint;
  invoiceNumber: string | null;
  replayed: boolean;
}

/**
 * An admin buys credits at the org's cost per credit: a pending payment, a
 * payment intent at the provider (keyed by the payment, so asking again never
 * charges twice), and, when the provider says so, the credits and the invoice.
 * A provider that cannot be reached leaves the payment pending for the recheck.
 */
export async function purchaseCredits(
  deps: { db: Database; provider: PaymentProvider; logger: Logger; limits: PurchaseLimits },
  request: unknown,
): Promise<Purchase> {
  const purchase = parseInput(purchaseCreditsInput(deps.limits), request, "purchase");
  const org = await deps.db.prisma.organisation.findUnique({ where: { id: purchase.orgId } });
  if (!org) throw new AppError("ORG_NOT_FOUND", `organisation ${purchase.orgId} not found`);
  const user = await deps.db.prisma.user.findFirst({ where: { id: purchase.userId, orgId: purchase.orgId } });
  if (!user) throw new AppError("USER_NOT_FOUND", `user ${purchase.userId} not found in organisation ${purchase.orgId}`);
  if (user.role !== "ADMIN") throw new AppError("PERMISSION_DENIED", "only the organisation's admins can buy credits");
  if (org.costPerCredit === null) {
    throw new AppError("CUSTOM_BILLING", `${org.name} has custom billing: contact support to add credits`);
  }
  const price = priceCredits(purchase.credits, org.costPerCredit.toString(), deps.limits.taxRate, org.currency);

  const inserted = await deps.db.pool.query<{ id: string }>(
    `INSERT INTO payment (org_id, user_id, idempotency_key, credits, unit_price, currency, subtotal_minor, tax_rate, tax_minor, total_minor)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (org_id, idempotency_key) DO NOTHING RETURNING id`,
    [org.id, user.id, purchase.idempotencyKey, purchase.credits, price.unitPrice, org.currency,
      price.subtotalMinor, price.taxRate, price.taxMinor, price.totalMinor],
  );
  if (inserted.rowCount === 0) return replay(deps.db, purchase);
  const paymentId = inserted.rows[0]!.id;
  const log = deps.logger.child({ orgId: org.id, paymentId });

  let intent;
  try {
    intent = await deps.provider.createIntent({ idempotencyKey: paymentId, amountMinor: price.totalMinor, currency: org.currency, paymentId });
  } catch (error) {
    if (!isAppError(error, "PROVIDER_UNAVAILABLE")) throw error;
    log.warn({ err: error }, "payment provider unreachable: payment left pending for the recheck");
    return { paymentId, status: "PENDING", credits: purchase.credits, currency: org.currency, totalMinor: price.totalMinor, invoiceNumber: null, replayed: false };
  }
  await deps.db.pool.query("UPDATE payment SET provider_intent_id = $2 WHERE id = $1 AND provider_intent_id IS NULL", [paymentId, intent.intentId]);
  let status: PaymentStatus = "PENDING";
  let invoiceNumber: string | null = null;
  if (intent.status !== "pending") {
    const settled = await settlePayment(deps.db, {
      paymentId, succeeded: intent.status === "succeeded", reference: intent.intentId, reason: intent.failureReason ?? null, source: "purchase",
    });
    status = settled.newStatus;
    invoiceNumber = settled.invoiceNumber;
  }
  log.info({ status, credits: purchase.credits, totalMinor: price.totalMinor.toString(), intentId: intent.intentId }, "credits purchase");
  return { paymentId, status, credits: purchase.credits, currency: org.currency, totalMinor: price.totalMinor, invoiceNumber, replayed: false };
}

async function replay(db: Database, purchase: { orgId: string; userId: string; credits: number; idempotencyKey: string }): Promise<Purchase> {
  const payment = await db.prisma.payment.findUniqueOrThrow({
    where: { orgId_idempotencyKey: { orgId: purchase.orgId, idempotencyKey: purchase.idempotencyKey } },
    include: { invoice: { select: { number: true } } },
  });
  if (payment.credits !== purchase.credits || payment.userId !== purchase.userId) {
    throw new AppError("IDEMPOTENCY_CONFLICT", `idempotency key "${purchase.idempotencyKey}" was already used for another purchase`);
  }
  return {
    paymentId: payment.id, status: payment.status, credits: payment.credits, currency: payment.currency,
    totalMinor: payment.totalMinor, invoiceNumber: payment.invoice?.number ?? null, replayed: true,
  };
}
