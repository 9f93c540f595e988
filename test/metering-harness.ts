import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import type { Database } from "../prisma/database.js";
import { createMeteringQueue, type QueueSettings } from "../workers/metering-queues.js";
import { startMeteringWorkers, type MeteringWorkers } from "../workers/metering-workers.js";
import type { PhotoProcessor } from "../workers/photo-processor.js";
import { SimulatedPhotoProcessor } from "../workers/simulated-photo-processor.js";
import { enqueueUsageRun } from "../workers/enqueue-usage-run.js";
import { waitFor } from "./wait-for.js";

export const quietLogger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? "silent" });

export function startTestWorkers(
  db: Database,
  queues: QueueSettings,
  options: { processor?: PhotoProcessor; smtpUrl?: string; concurrency?: number; segmentPhotos?: number; outboxDir?: string } = {},
): MeteringWorkers {
  return startMeteringWorkers({
    db, queues, logger: quietLogger,
    processor: options.processor ?? new SimulatedPhotoProcessor({ latencyMsPerPhoto: 0, failureRate: 0 }),
    mailer: createMailer({ SMTP_URL: options.smtpUrl, OUTBOX_DIR: options.outboxDir ?? "var/test-outbox", MAIL_FROM: "Credits <credits@test>" }),
    concurrency: options.concurrency ?? 10,
    segmentPhotos: options.segmentPhotos ?? 10,
    reservationTtlMs: 60_000,
    supervisorIntervalMs: 100,
    reconcileAfterMs: 1_000,
    lockDurationMs: 2_000,
    pauseNoticeGraceMs: 300,
  });
}

export function createProducer(db: Database, queues: QueueSettings) {
  const queue = createMeteringQueue(queues);
  return {
    queue,
    enqueue: (payload: unknown) => enqueueUsageRun({ db, queue }, payload),
    close: () => queue.close(),
  };
}

export async function runStatus(db: Database, orgId: string, runId: string, kind = "PHOTO_PROCESSING") {
  const { rows } = await db.pool.query<{ status: string; charged: string; failed: number }>(
    `SELECT u.status, (SELECT count(*) FROM photo_charge c WHERE c.run_sequence = u.sequence) AS charged,
            cardinality(u.failed_photo_ids) AS failed
     FROM usage_run u WHERE u.org_id = $1 AND u.run_id = $2 AND u.usage_type = $3::usage_type`,
    [orgId, runId, kind],
  );
  const row = rows[0];
  return row ? { status: row.status, charged: Number(row.charged), failed: row.failed } : { status: "MISSING", charged: 0, failed: 0 };
}

export function waitForRun(db: Database, orgId: string, runId: string, status: string, timeoutMs = 20_000) {
  return waitFor(() => runStatus(db, orgId, runId), (run) => run.status === status, { timeoutMs, what: `run ${runId} ${status}` });
}

/** Every charge record is one photo charged once: the primary key says so; this counts them per run. */
export async function chargesPerPhoto(db: Database, orgId: string) {
  const { rows } = await db.pool.query<{ photos: string; charges: string; usage_credits: string }>(
    `SELECT (SELECT count(DISTINCT (u.run_id, u.usage_type, c.photo_id)) FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence
             WHERE u.org_id = $1) AS photos,
            (SELECT count(*) FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence WHERE u.org_id = $1) AS charges,
            (SELECT COALESCE(-sum(credits), 0) FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE') AS usage_credits`,
    [orgId],
  );
  return { photos: Number(rows[0]!.photos), charges: Number(rows[0]!.charges), usageCredits: Number(rows[0]!.usage_credits) };
}

export const photoIds = (count: number, prefix = "p") => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
