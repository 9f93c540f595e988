/**
 * npm run scheduler: fires the schedules (node-cron, distributed over Redis, so
 * each fire runs once across any number of scheduler processes). A schedule
 * only enqueues jobs with deterministic ids; the workers do the work. Stops
 * gracefully on SIGTERM or SIGINT.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import cron from "node-cron";
import { loadConfig } from "../core/config.js";
import { AppError } from "../core/errors.js";
import { createLogger } from "../core/logger.js";
import { runCommand } from "../core/run-command.js";
import { stopOnSignals } from "../core/stop-on-signals.js";
import { createPaymentRecheckQueue } from "../payments/recheck-queue.js";
import { createDatabase } from "../prisma/database.js";
import { queueSettings } from "../workers/metering-queues.js";
import { createStatementQueue } from "../reports/statement-queue.js";
import { messageDomain } from "../reports/record-statement.js";
import { enqueueDueStatements } from "./enqueue-due-statements.js";
import { enqueueStuckPaymentRechecks } from "./enqueue-stuck-payment-rechecks.js";
import { redisRunCoordinator } from "./redis-run-coordinator.js";

runCommand(async () => {
  const config = loadConfig();
  const instance = `scheduler-${randomUUID().slice(0, 8)}`;
  const logger = createLogger({ level: config.LOG_LEVEL, name: "scheduler" }).child({ instance });
  for (const name of ["PAYMENT_RECHECK_CRON", "STATEMENT_CRON"] as const) {
    if (!cron.validate(config[name])) throw new AppError("CONFIG_INVALID", `${name} "${config[name]}" is not a cron expression`);
  }
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 2 });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 3 });
  const rechecks = createPaymentRecheckQueue(queueSettings(config));

  const task = cron.schedule(
    config.PAYMENT_RECHECK_CRON,
    async ({ date }) => {
      await enqueueStuckPaymentRechecks({ db, queue: rechecks, logger, instance }, {
        slot: date, stuckAfterMs: config.PAYMENT_STUCK_AFTER_MS,
        attempts: config.PAYMENT_RECHECK_ATTEMPTS, backoffMs: config.PAYMENT_RECHECK_BACKOFF_MS,
      });
    },
    {
      name: "recheck-stuck-payments", timezone: "UTC", noOverlap: true,
      distributed: true, runCoordinator: redisRunCoordinator(redis, config.QUEUE_PREFIX, instance),
    },
  );
  task.on("execution:failed", (context) => logger.error({ err: context.execution?.error }, "scheduler tick failed"));

  const statements = createStatementQueue(queueSettings(config));
  const statementsTick = (now: Date) => enqueueDueStatements({ db, queue: statements, logger }, {
    now, sendAt: config.STATEMENT_SEND_AT, messageDomain: messageDomain(config.MAIL_FROM),
    attempts: config.STATEMENT_DELIVERY_ATTEMPTS, backoffMs: config.STATEMENT_RETRY_BACKOFF_MS,
  });
  const statementTask = cron.schedule(config.STATEMENT_CRON, async ({ date }) => { await statementsTick(date); }, {
    name: "monthly-statements", timezone: "UTC", noOverlap: true,
    distributed: true, runCoordinator: redisRunCoordinator(redis, config.QUEUE_PREFIX, instance),
  });
  statementTask.on("execution:failed", (context) => logger.error({ err: context.execution?.error }, "statements tick failed"));
  // Catch-up: statements that fell due while no scheduler ran go out now (the statement rows make this idempotent).
  await statementsTick(new Date());
  logger.info({ schedule: config.PAYMENT_RECHECK_CRON, stuckAfterMs: config.PAYMENT_STUCK_AFTER_MS }, "scheduler started");

  stopOnSignals(logger, [() => task.stop(), () => statementTask.stop(), () => rechecks.close(), () => statements.close(), () => redis.quit(), () => db.close()]);
});
