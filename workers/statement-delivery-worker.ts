import { Worker } from "bullmq";
import type { Logger } from "../core/logger.js";
import type { Mailer } from "../core/mailer.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { deliverStatement, type Delivery } from "../reports/deliver-statement.js";
import type { Seller } from "../reports/render-invoice.js";
import { statementPayload, statementQueueName, type StatementPayload } from "../reports/statement-queue.js";
import { handleJob } from "./handle-job.js";
import type { QueueSettings } from "./metering-queues.js";

/** Renders and mails statements, several at once; a mail server that is down is retried with backoff. */
export function startStatementDeliveryWorker(options: {
  db: Database; mailer: Mailer; logger: Logger; seller: Seller; queues: QueueSettings; concurrency?: number;
}): Worker<StatementPayload, Delivery> {
  const { db, logger } = options;
  const worker = new Worker<StatementPayload, Delivery>(
    statementQueueName,
    handleJob(
      logger,
      async (job, log) => {
        const payload = parseInput(statementPayload, job.data, "statement job");
        return deliverStatement({ db, mailer: options.mailer, logger: log, seller: options.seller }, payload);
      },
      async (job, error) => {
        const payload = statementPayload.safeParse(job.data);
        if (!payload.success) return;
        await db.pool.query(
          "UPDATE statement SET status = 'FAILED', failure_reason = $3, updated_at = now() WHERE org_id = $1 AND month = $2 AND status <> 'SENT'",
          [payload.data.orgId, payload.data.month, `gave up: ${(error as Error).message}`.slice(0, 1000)],
        );
        logger.error({ orgId: payload.data.orgId, month: payload.data.month, err: error }, "STATEMENT NOT DELIVERED: every try failed");
      },
    ),
    { connection: options.queues.connection, prefix: options.queues.prefix, concurrency: options.concurrency ?? 4 },
  );
  worker.on("error", (error) => logger.error({ err: error }, "statement worker error"));
  return worker;
}
