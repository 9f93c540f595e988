/**
 * npm run workers: the metering worker process. Stops gracefully on SIGTERM
 * or SIGINT: jobs in hand finish (or go back to the queue), then connections close.
 */
import { loadConfig } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { runCommand } from "../core/run-command.js";
import { stopOnSignals } from "../core/stop-on-signals.js";
import { createDatabase } from "../prisma/database.js";
import { HttpPaymentProvider } from "../payments/http-payment-provider.js";
import { createPhotoProcessor } from "./create-photo-processor.js";
import { startPaymentRecheckWorker } from "./payment-recheck-worker.js";
import { sellerFromConfig } from "../reports/record-statement.js";
import { startStatementDeliveryWorker } from "./statement-delivery-worker.js";
import { queueSettings } from "./metering-queues.js";
import { startMeteringWorkers } from "./metering-workers.js";

runCommand(async () => {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: "workers" });
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: config.DATABASE_POOL_SIZE });
  const mailer = createMailer(config);
  const workers = startMeteringWorkers({
    db, logger, mailer,
    queues: queueSettings(config),
    processor: createPhotoProcessor(config),
    concurrency: config.WORKER_CONCURRENCY,
    segmentPhotos: config.METERING_SEGMENT_PHOTOS,
    reservationTtlMs: config.RESERVATION_TTL_MS,
    supervisorIntervalMs: config.SUPERVISOR_INTERVAL_MS,
    reconcileAfterMs: config.RECONCILE_AFTER_MS,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
  });
  const paymentRechecks = startPaymentRecheckWorker({
    db, logger, queues: queueSettings(config), maxPendingChecks: config.PAYMENT_MAX_PENDING_CHECKS,
    provider: new HttpPaymentProvider({ baseUrl: config.PAYMENT_PROVIDER_URL, timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS }),
  });
  const statements = startStatementDeliveryWorker({ db, mailer, logger, queues: queueSettings(config), seller: sellerFromConfig(config) });
  logger.info({ concurrency: config.WORKER_CONCURRENCY, processor: config.PHOTO_PROCESSOR, queuePrefix: config.QUEUE_PREFIX }, "workers started");

  stopOnSignals(logger, [
    () => Promise.all([workers.close(), paymentRechecks.close(), statements.close()]),
    () => db.close(),
    () => mailer.close(),
  ], "stopping: finishing jobs in hand");
});
