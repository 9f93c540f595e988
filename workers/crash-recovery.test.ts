import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "../prisma/database.js";
import { migrateDatabase } from "../prisma/migrate.js";
import { createTestDatabase } from "../test/test-database.js";
import { createTestQueues } from "../test/test-queues.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { chargesPerPhoto, createProducer, photoIds, runStatus, startTestWorkers, waitForRun } from "../test/metering-harness.js";
import { startOwnPostgres, startOwnRedis } from "../test/own-servers.js";
import { waitFor } from "../test/wait-for.js";
import { SimulatedPhotoProcessor } from "./simulated-photo-processor.js";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const cleanUp of cleanups.reverse()) await cleanUp();
});

function spawnWorkerProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ["--import", "tsx", "workers/main.ts"], {
    cwd: projectRoot,
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    stdio: "ignore",
  });
  cleanups.push(() => child.exitCode === null && child.kill("SIGKILL"));
  return child;
}

/** A database and queues of the test's own, an org with 1,000 credits, and a producer. */
async function isolatedWorld() {
  const db = await createTestDatabase();
  const queues = createTestQueues();
  cleanups.push(() => db.drop(), () => queues.cleanUp());
  const { org, event } = await makeOrg(db, { credits: 1000 });
  const producer = createProducer(db, queues);
  cleanups.push(() => producer.close());
  return { db, queues, org, event, producer };
}

describe("exactly once through crashes", () => {
  it("a worker killed with SIGKILL mid-run: another worker finishes the run, each photo charged once", async () => {
    const { db, queues, org, event, producer } = await isolatedWorld();
    const env = {
      DATABASE_URL: db.url, QUEUE_PREFIX: queues.prefix, SIMULATED_LATENCY_MS: "5", METERING_SEGMENT_PHOTOS: "10",
      WORKER_LOCK_DURATION_MS: "1000", SUPERVISOR_INTERVAL_MS: "200", WORKER_CONCURRENCY: "2", RESERVATION_TTL_MS: "60000",
    };
    const doomed = spawnWorkerProcess(env);
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(400), userId: null, runId: "killed" });
    await waitFor(() => runStatus(db, org.id, "killed"), (run) => run.charged >= 60, { what: "some photos charged", timeoutMs: 30_000 });
    doomed.kill("SIGKILL");
    await new Promise((resolve) => doomed.once("exit", resolve));
    const chargedAtKill = (await runStatus(db, org.id, "killed")).charged;
    expect(chargedAtKill).toBeLessThan(400);

    spawnWorkerProcess(env);
    const run = await waitForRun(db, org.id, "killed", "COMPLETED", 60_000);
    expect(run.charged).toBe(400);
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 400, charges: 400, usageCredits: 400 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 600, ledgerSum: 600, reserved: 0, heldReservations: 0 });
  }, 120_000);

  it("SIGTERM lets the job in hand finish, then the worker process exits cleanly", async () => {
    const { db, queues, org, event, producer } = await isolatedWorld();
    const worker = spawnWorkerProcess({
      DATABASE_URL: db.url, QUEUE_PREFIX: queues.prefix, SIMULATED_LATENCY_MS: "5", METERING_SEGMENT_PHOTOS: "10", WORKER_CONCURRENCY: "1",
    });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(200), userId: null, runId: "graceful" });
    await waitFor(() => runStatus(db, org.id, "graceful"), (run) => run.charged >= 20, { what: "run under way", timeoutMs: 30_000 });
    const exited = new Promise<number | null>((resolve) => worker.once("exit", (code) => resolve(code)));
    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(await runStatus(db, org.id, "graceful")).toMatchObject({ status: "COMPLETED", charged: 200 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 800, ledgerSum: 800, reserved: 0 });
  }, 60_000);

  it("Redis restarts empty mid-run: the runs it lost are enqueued again from PostgreSQL and charged once", async () => {
    const redis = await startOwnRedis();
    cleanups.push(() => redis.stop());
    const db = await createTestDatabase();
    const queues = createTestQueues(redis.url);
    cleanups.push(() => db.drop());
    const { org, event } = await makeOrg(db, { credits: 1000 });
    const producer = createProducer(db, queues);
    const workers = startTestWorkers(db, queues, {
      concurrency: 1, segmentPhotos: 10, processor: new SimulatedPhotoProcessor({ latencyMsPerPhoto: 3, failureRate: 0 }),
    });
    cleanups.push(() => workers.close(), () => producer.close());
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(200), userId: null, runId: "first" });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(100), userId: null, runId: "waiting" });
    await waitFor(() => runStatus(db, org.id, "first"), (run) => run.charged >= 30, { what: "first run under way" });
    await redis.restart();
    // The waiting run's job died with Redis; only PostgreSQL remembers it.
    expect(await runStatus(db, org.id, "waiting")).toMatchObject({ status: "QUEUED", charged: 0 });
    expect(await producer.queue.getJob("run." + org.id + ".PHOTO_PROCESSING.waiting")).toBeUndefined();

    await waitForRun(db, org.id, "first", "COMPLETED", 60_000);
    await waitForRun(db, org.id, "waiting", "COMPLETED", 60_000);
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 300, charges: 300, usageCredits: 300 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 700, ledgerSum: 700, reserved: 0 });
  }, 120_000);

  it("PostgreSQL restarts mid-run: the run retries, finishes, and each photo is charged once", async () => {
    const postgres = await startOwnPostgres();
    cleanups.push(() => postgres.remove());
    await migrateDatabase(postgres.url);
    const db = createDatabase({ url: postgres.url, poolSize: 5 });
    const queues = createTestQueues();
    cleanups.push(() => queues.cleanUp());
    const { org, event } = await makeOrg(db, { credits: 1000 });
    const producer = createProducer(db, queues);
    const workers = startTestWorkers(db, queues, {
      concurrency: 2, segmentPhotos: 10, processor: new SimulatedPhotoProcessor({ latencyMsPerPhoto: 3, failureRate: 0 }),
    });
    cleanups.push(() => db.close(), () => producer.close(), () => workers.close());
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "AI_IMAGE_ROTATION", photoIds: photoIds(300), userId: null, runId: "pg" });
    await waitFor(() => runStatus(db, org.id, "pg", "AI_IMAGE_ROTATION"), (run) => run.charged >= 30, { what: "run under way" });
    postgres.restart();

    await waitFor(() => runStatus(db, org.id, "pg", "AI_IMAGE_ROTATION").catch(() => ({ status: "DB DOWN", charged: 0, failed: 0 })),
      (run) => run.status === "COMPLETED", { what: "run completed after the restart", timeoutMs: 60_000 });
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 300, charges: 300, usageCredits: 300 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 700, ledgerSum: 700, reserved: 0 });
  }, 120_000);
});
