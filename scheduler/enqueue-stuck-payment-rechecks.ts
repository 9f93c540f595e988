import type { Queue } from "bullmq";
import type { Logger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { selectPaymentsToRecheck } from "../payments/recheck-payment.js";
import { paymentRecheckJobId, paymentRecheckJobOptions, type PaymentRecheckPayload } from "../payments/recheck-queue.js";

/**
 * One scheduler tick: finds the payments pending for longer than the threshold
 * and enqueues one recheck job per payment (none if one is already in flight).
 * It only enqueues; the workers do the rechecks.
 */
export async function enqueueStuckPaymentRechecks(
  deps: { db: Database; queue: Queue<PaymentRecheckPayload>; logger: Logger; instance: string },
  options: { slot: Date; stuckAfterMs: number; attempts: number; backoffMs: number },
): Promise<{ stuck: number }> {
  const tick = options.slot.toISOString();
  const paymentIds = await selectPaymentsToRecheck(deps.db, { stuckAfterMs: options.stuckAfterMs });
  if (paymentIds.length > 0) {
    await deps.queue.addBulk(paymentIds.map((paymentId) => ({
      name: "recheck-payment",
      data: { paymentId, tick },
      opts: { ...paymentRecheckJobOptions(options.attempts, options.backoffMs), jobId: paymentRecheckJobId(paymentId) },
    })));
  }
  await deps.db.pool.query("INSERT INTO scheduler_tick (task, slot, instance, enqueued) VALUES ('recheck-stuck-payments', $1, $2, $3)",
    [tick, deps.instance, paymentIds.length]);
  deps.logger.info({ task: "recheck-stuck-payments", tick, stuck: paymentIds.length }, "scheduler tick");
  return { stuck: paymentIds.length };
}
