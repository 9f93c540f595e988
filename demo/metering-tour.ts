import { randomUUID } from "node:crypto";
import type { Config } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { grantCredits } from "../ledger/index.js";
import { createEvent } from "../organisations/create-event.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import { createUser } from "../organisations/create-user.js";
import type { Database } from "../prisma/database.js";
import { enqueueUsageRun } from "../workers/enqueue-usage-run.js";
import { createMeteringQueue, queueSettings } from "../workers/metering-queues.js";
import { startMeteringWorkers } from "../workers/metering-workers.js";
import { listParkedRuns } from "../workers/queue-health.js";
import { SimulatedPhotoProcessor } from "../workers/simulated-photo-processor.js";
import { formatTable } from "./print-table.js";

const heading = (text: string) => console.log(`\n== ${text}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`demo timed out waiting until ${what}`);
    await sleep(100);
  }
}

/**
 * Part 2: two organisations' runs through real metering workers on Redis.
 * One has plenty of credits; the other runs out, pauses, is topped up and
 * finishes. Returns false if any org's books do not agree.
 */
export async function tourMetering(
  db: Database,
  config: Config,
  options: { topUp(orgId: string, adminId: string, credits: number): Promise<void> },
): Promise<string[]> {
  const tag = randomUUID().slice(0, 8);
  const queues = { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-demo-${tag}` };
  const mailer = createMailer(config);
  const workers = startMeteringWorkers({
    db, queues, mailer, logger: createLogger({ level: "error", name: "demo-workers" }),
    processor: new SimulatedPhotoProcessor({ latencyMsPerPhoto: 1, failureRate: 0.02 }),
    concurrency: 8, segmentPhotos: 100, reservationTtlMs: config.RESERVATION_TTL_MS,
    supervisorIntervalMs: 200, reconcileAfterMs: 10_000,
  });
  const queue = createMeteringQueue(queues);
  try {
    const orgs = [
      { name: `Lumen Event Photography (demo ${tag})`, credits: 5_000 },
      { name: `Pixel Pine Studio (demo ${tag})`, credits: 300 },
    ];
    const created = [];
    for (const spec of orgs) {
      const org = await createOrganisation(db, { name: spec.name, currency: "EUR", costPerCredit: "0.05", timeZone: "Europe/Berlin" });
      const admin = await createUser(db, { orgId: org.id, email: `admin+${tag}@${spec.name.split(" ")[0]!.toLowerCase()}.example`, name: "Org Admin", role: "ADMIN" });
      const event = await createEvent(db, { orgId: org.id, name: "City Half Marathon" });
      await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: spec.credits, idempotencyKey: `demo-${tag}` });
      created.push({ org, admin, event });
    }
    heading(`Metering: ${orgs.map((o) => `${o.name} with ${o.credits} credits`).join("; ")}`);
    const runs: { orgIndex: number; runId: string; kind: "PHOTO_PROCESSING" | "AI_IMAGE_ROTATION"; photos: number }[] = [];
    for (const [orgIndex, { org, admin, event }] of created.entries()) {
      for (let i = 1; i <= 4; i++) {
        const kind = i % 2 === 0 ? "AI_IMAGE_ROTATION" : "PHOTO_PROCESSING";
        const runId = `demo-${tag}-${orgIndex}-${i}`;
        const photoIds = Array.from({ length: 150 }, (_, p) => `IMG_${i}${String(p).padStart(4, "0")}.jpg`);
        await enqueueUsageRun({ db, queue }, { orgId: org.id, eventId: event.id, kind, photoIds, userId: i === 1 ? admin.id : null, runId });
        runs.push({ orgIndex, runId, kind, photos: photoIds.length });
      }
    }
    console.log(`enqueued ${runs.length} runs of 150 photos each (4 per org, both kinds)`);

    const pine = created[1]!.org;
    await waitUntil("Pixel Pine pauses", async () =>
      (await db.prisma.organisation.findUniqueOrThrow({ where: { id: pine.id } })).processingState === "PAUSED");
    await waitUntil("Pixel Pine's runs park", async () => (await listParkedRuns(db)).some((p) => p.orgId === pine.id));
    await sleep(500);
    heading("Pixel Pine ran out of credits: processing paused, runs parked, admins emailed");
    console.log(formatTable((await listParkedRuns(db)).filter((p) => p.orgId === pine.id).map(({ orgId: _o, ...p }) => p)));
    console.log(config.SMTP_URL ? `pause email sent over ${new URL(config.SMTP_URL).host}` : `pause email written to ${config.OUTBOX_DIR}/ (no SMTP_URL set)`);

    await options.topUp(pine.id, created[1]!.admin.id, 1_000);
    console.log("Pixel Pine has its 1000 credits: processing resumes");
    await waitUntil("every run completes", async () => {
      const { rows } = await db.pool.query("SELECT count(*) AS open FROM usage_run WHERE run_id LIKE $1 AND status <> 'COMPLETED'", [`demo-${tag}-%`]);
      return Number(rows[0].open) === 0;
    });

    heading("Per organisation: photos charged, balance, and the ledger's sum");
    const rows = [];
    for (const { org } of created) {
      const { rows: [books] } = await db.pool.query(
        `SELECT (SELECT count(*) FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence WHERE u.org_id = $1) AS photos_charged,
                (SELECT sum(cardinality(failed_photo_ids)) FROM usage_run WHERE org_id = $1) AS photos_failed,
                (SELECT count(*) FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE') AS usage_transactions,
                (SELECT COALESCE(-sum(credits), 0) FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE') AS credits_used,
                o.balance_credits AS balance, (SELECT sum(credits) FROM credit_transaction WHERE org_id = $1) AS ledger_sum
         FROM organisation o WHERE o.id = $1`, [org.id]);
      rows.push({ org: org.name, ...books, agrees: books.balance === books.ledger_sum && books.photos_charged === books.credits_used });
    }
    console.log(formatTable(rows));
    if (!rows.every((row) => row.agrees)) throw new Error("an organisation's books do not agree");
    return created.map(({ org }) => org.id);
  } finally {
    await workers.close();
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
    mailer.close();
  }
}
