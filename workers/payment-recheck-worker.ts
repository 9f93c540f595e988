import { Worker } from "bullmq";
import type { Logger } from "../core/logger.js";
import { parseInput } from "../core/validation.js";
import type { PaymentProvider } from "../payments/payment-provider.js";
import { recheckPayment, type Recheck } from "../payments/recheck-payment.js";
import { paymentRecheckPayload, paymentRecheckQueueName, type PaymentRecheckPayload } from "../payments/recheck-queue.js";
import type { Database } from "../prisma/database.js";
import { handleJob } from "./handle-job.js";
import type { QueueSettings } from "./metering-queues.js";

/**
 * Rechecks stuck payments. A provider that cannot be reached is retried with
 * exponential backoff; when the tries run out the payment needs attention and
 * says so loudly in the log, never dropped in silence.
 */
export function startPaymentRecheckWorker(options: {
  db: Database; provider: PaymentProvider; logger: Logger; queues: QueueSettings; maxPendingChecks: number; concurrency?: number;
}): Worker<PaymentRecheckPayload, Recheck> {
  const { db, logger } = options;
  const worker = new Worker<PaymentRecheckPayload, Recheck>(
    paymentRecheckQueueName,
    handleJob(
      logger,
      async (job, log) => {
        const { paymentId, tick } = parseInput(paymentRecheckPayload, job.data, "payment recheck job");
        const result = await recheckPayment({ db, provider: options.provider, logger: log }, {
          paymentId, source: "scheduled", tick, maxPendingChecks: options.maxPendingChecks,
        });
        log.info(result, "payment rechecked");
        return result;
      },
      async (job, error) => {
        const data = paymentRecheckPayload.safeParse(job.data);
        if (!data.success) return;
        const marked = await db.pool.query(
          `UPDATE payment SET status = 'NEEDS_ATTENTION', failure_reason = $2 WHERE id = $1 AND status = 'PENDING' RETURNING id`,
          [data.data.paymentId, `recheck gave up: ${(error as Error).message}`.slice(0, 1000)],
        );
        if (marked.rowCount) {
          logger.error({ paymentId: data.data.paymentId, attempts: job.attemptsMade + 1, err: error },
            "PAYMENT NEEDS ATTENTION: every recheck of it failed");
        }
      },
    ),
    { connection: options.queues.connection, prefix: options.queues.prefix, concurrency: options.concurrency ?? 5 },
  );
  worker.on("error", (error) => logger.error({ err: error }, "payment recheck worker error"));
  return worker;
}
