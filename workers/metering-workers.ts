import { randomUUID } from "node:crypto";
import { Queue, Worker } from "bullmq";
import type { Logger } from "../core/logger.js";
import type { Mailer } from "../core/mailer.js";
import { isAppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import { LedgerBatcher } from "../ledger/ledger-batcher.js";
import type { Database } from "../prisma/database.js";
import { handleJob } from "./handle-job.js";
import { meterUsageRun, type MeteringOutcome } from "./meter-usage-run.js";
import { MeteringLedger } from "./metering-ledger.js";
import { createMeteringQueue, meteringQueueName, notificationQueueName, usageRunWorkerSettings, type QueueSettings } from "./metering-queues.js";
import { superviseMetering } from "./metering-supervisor.js";
import {
  notifyProcessingPaused, processingPausedJobId, processingPausedPayload, type ProcessingPausedPayload,
} from "./notify-processing-paused.js";
import { failUsageRun } from "./org-processing-state.js";
import type { PhotoProcessor } from "./photo-processor.js";
import { usageRunPayload, type UsageRunPayload } from "./usage-run-payload.js";

export interface MeteringWorkerOptions {
  db: Database;
  queues: QueueSettings;
  processor: PhotoProcessor;
  mailer: Mailer;
  logger: Logger;
  concurrency: number;
  segmentPhotos: number;
  reservationTtlMs: number;
  supervisorIntervalMs: number;
  reconcileAfterMs: number;
  /** How long a job is ours without renewing its lock; a dead worker's jobs return after it. */
  lockDurationMs?: number;
  /** How long the supervisor leaves a new pause's email to the job that paused the org. */
  pauseNoticeGraceMs?: number;
}

export interface MeteringWorkers {
  /** Called in this process for each run job that ends without error (completed, parked or already finished). */
  onJobDone(listener: (outcome: MeteringOutcome) => void): void;
  /** Finishes the jobs in hand (or hands them back), stops the supervisor, closes connections. */
  close(): Promise<void>;
}

/** Everything a metering worker process runs: the run and notification workers and the supervisor. */
export function startMeteringWorkers(options: MeteringWorkerOptions): MeteringWorkers {
  const { db, logger } = options;
  const connection = { connection: options.queues.connection, prefix: options.queues.prefix };
  const meteringQueue = createMeteringQueue(options.queues);
  const notificationQueue = new Queue<ProcessingPausedPayload>(notificationQueueName, connection);
  const onRefused = (error: unknown, size: number) => {
    const { code, constraint } = error as { code?: string; constraint?: string };
    // The batch statements saying "send these one by one", or a batch that would charge a photo
    // already charged (a retry or a duplicate job): expected. Anything else is worth a look.
    if (isAppError(error, "LEDGER_BATCH_REFUSED") || (code === "23505" && constraint === "photo_charge_pkey")) {
      logger.debug({ size }, "batch sent one by one");
    } else {
      logger.warn({ err: error, size }, "batch failed; sent one by one");
    }
  };
  const ledger = new MeteringLedger(db, new LedgerBatcher(db, { onRefused }), { onRefused });

  const notifyPaused = async (orgId: string, pausedAt: Date) => {
    const payload = { orgId, pausedAt: pausedAt.toISOString() };
    await notificationQueue.add("processing-paused", payload, {
      jobId: processingPausedJobId(payload), attempts: 10, backoff: { type: "exponential", delay: 5_000 },
      removeOnComplete: { age: 24 * 3600 }, removeOnFail: false,
    });
  };
  const meteringDeps = {
    db, ledger, processor: options.processor,
    segmentPhotos: options.segmentPhotos, reservationTtlMs: options.reservationTtlMs,
    onOrgPaused: notifyPaused,
  };

  const meteringWorker = new Worker<UsageRunPayload, MeteringOutcome>(
    meteringQueueName,
    handleJob(
      logger,
      async (job, log) => {
        const run = parseInput(usageRunPayload, job.data, "usage run job");
        const outcome = await meterUsageRun(meteringDeps, run, { id: randomUUID().slice(0, 8), logger: log });
        log.info(outcome, `run ${outcome.outcome}`);
        return outcome;
      },
      async (job, error) => {
        const run = usageRunPayload.safeParse(job.data);
        if (run.success) await failUsageRun(db, run.data, (error as Error).message);
      },
    ),
    { ...connection, concurrency: options.concurrency, ...usageRunWorkerSettings(options.lockDurationMs) },
  );
  const notificationWorker = new Worker<ProcessingPausedPayload>(
    notificationQueueName,
    handleJob(logger, async (job, log) => {
      const payload = parseInput(processingPausedPayload, job.data, "processing-paused job");
      const { recipients } = await notifyProcessingPaused({ db, mailer: options.mailer, logger: log }, payload);
      log.info({ recipients }, "processing-paused email sent");
    }),
    { ...connection, concurrency: 4 },
  );
  for (const worker of [meteringWorker, notificationWorker]) {
    worker.on("error", (error) => logger.error({ err: error }, "worker error"));
  }

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let tick: Promise<void> = Promise.resolve();
  // Lost runs are looked for twice per reconcile window, not every tick: the look reads every
  // run still waiting or running (and what updates left of them in its index) each time. A look
  // that found a full page looks again at the next tick, so a Redis that lost many runs is caught up fast.
  let lookedForLostRunsAt = 0;
  const supervise = () => {
    const startedAt = Date.now();
    const lookForLostRuns = startedAt - lookedForLostRunsAt >= options.reconcileAfterMs / 2;
    tick = superviseMetering(
      { db, queue: meteringQueue, logger, notifyPaused },
      { reconcileAfterMs: options.reconcileAfterMs, pauseNoticeGraceMs: options.pauseNoticeGraceMs ?? 30_000, lookForLostRuns },
    )
      .then((result) => {
        if (lookForLostRuns) lookedForLostRunsAt = result.moreRunsToCheck ? 0 : startedAt;
        if (result.expiredHolds + result.resumedOrgs.length + result.requeuedRuns + result.recoveredRuns + result.pauseNotices > 0) {
          logger.info(result, "metering supervisor tick");
        }
      })
      .catch((error: unknown) => logger.error({ err: error }, "metering supervisor tick failed"))
      .finally(() => {
        if (!stopped) timer = setTimeout(supervise, options.supervisorIntervalMs);
      });
  };
  supervise();

  return {
    onJobDone(listener) {
      meteringWorker.on("completed", (_job, outcome) => listener(outcome));
    },
    async close() {
      stopped = true;
      clearTimeout(timer);
      await tick;
      await Promise.all([meteringWorker.close(), notificationWorker.close()]);
      await Promise.all([meteringQueue.close(), notificationQueue.close()]);
    },
  };
}
