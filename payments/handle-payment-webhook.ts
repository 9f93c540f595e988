import { z } from "zod";
import { AppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { settlePayment, type Settlement } from "./settle-payment.js";
import { verifyWebhook } from "./webhook-signature.js";

const providerEvent = z.object({
  id: z.string().min(1).max(200),
  type: z.string().min(1).max(100),
  data: z.object({
    intentId: z.string().min(1),
    paymentId: z.string().optional(),
    status: z.enum(["pending", "succeeded", "failed"]),
    failureReason: z.string().optional(),
  }),
});

export type WebhookOutcome = { duplicate: true } | ({ duplicate: false; paymentId: string } & Partial<Settlement>);

/**
 * A signed webhook from the provider: verified (signature and timestamp),
 * matched to its payment, and applied once. Duplicates and late, out-of-order
 * events change nothing, because settlement only ever moves a pending payment.
 */
export async function handlePaymentWebhook(
  deps: { db: Database; logger: Logger; secret: string; toleranceMs: number },
  rawBody: string,
  signature: string | undefined,
): Promise<WebhookOutcome> {
  verifyWebhook(rawBody, signature, deps.secret, deps.toleranceMs);
  const event = parseInput(providerEvent, safeJson(rawBody), "webhook event");
  const seen = await deps.db.pool.query("SELECT 1 FROM provider_event WHERE id = $1", [event.id]);
  if (seen.rowCount) return { duplicate: true };

  const byIntent = await deps.db.pool.query<{ id: string }>("SELECT id FROM payment WHERE provider_intent_id = $1", [event.data.intentId]);
  let paymentId = byIntent.rows[0]?.id;
  // The webhook can beat us to storing the intent id (or our process died before it).
  // The purchase may store it between the lookup above and this update: the
  // same id already there matches too.
  if (!paymentId && event.data.paymentId && z.uuid().safeParse(event.data.paymentId).success) {
    const byId = await deps.db.pool.query<{ id: string }>(
      `UPDATE payment SET provider_intent_id = $2
       WHERE id = $1 AND (provider_intent_id IS NULL OR provider_intent_id = $2) RETURNING id`,
      [event.data.paymentId, event.data.intentId],
    );
    paymentId = byId.rows[0]?.id;
  }
  if (!paymentId) throw new AppError("WEBHOOK_UNKNOWN_PAYMENT", `no payment for intent ${event.data.intentId}`);

  let settled: Settlement | undefined;
  if (event.data.status !== "pending") {
    settled = await settlePayment(deps.db, {
      paymentId, succeeded: event.data.status === "succeeded", reference: event.data.intentId,
      reason: event.data.failureReason ?? null, source: "webhook",
    });
  }
  await deps.db.pool.query("INSERT INTO provider_event (id, type) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", [event.id, event.type]);
  deps.logger.info({ paymentId, eventId: event.id, type: event.type, ...settled }, "payment webhook applied");
  return { duplicate: false, paymentId, ...settled };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("INVALID_INPUT", "webhook body is not JSON");
  }
}
