import { Queue, type JobsOptions } from "bullmq";
import { z } from "zod";
import type { QueueSettings } from "../workers/metering-queues.js";

export const paymentRecheckQueueName = "payment-rechecks";

export const paymentRecheckPayload = z.strictObject({
  paymentId: z.uuid({ error: "must be a payment id (UUID)" }),
  /** The scheduler tick (its slot) that asked for it. */
  tick: z.string().nullable(),
});
export type PaymentRecheckPayload = z.output<typeof paymentRecheckPayload>;

/** One recheck in flight per payment: a tick that finds one waiting or running adds none. */
export const paymentRecheckJobId = (paymentId: string) => `recheck.${paymentId}`;

export function paymentRecheckJobOptions(attempts: number, backoffMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: "exponential", delay: backoffMs },
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

export function createPaymentRecheckQueue(settings: QueueSettings): Queue<PaymentRecheckPayload> {
  return new Queue<PaymentRecheckPayload>(paymentRecheckQueueName, { connection: settings.connection, prefix: settings.prefix });
}
