import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { createTestQueues, type TestQueues } from "../test/test-queues.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { chargesPerPhoto, createProducer, photoIds, runStatus, startTestWorkers, waitForRun } from "../test/metering-harness.js";
import { startSmtpCapture, type SmtpCapture } from "../test/smtp-capture.js";
import { waitFor } from "../test/wait-for.js";
import { createUser } from "../organisations/create-user.js";
import { captureReservation, grantCredits, listTransactions, reserveCredits } from "../ledger/index.js";
import { fingerprint } from "../ledger/ledger-inputs.js";
import { pauseIfOutOfCredits } from "./org-processing-state.js";
import type { MeteringWorkers } from "./metering-workers.js";
import { listParkedRuns, queueHealth } from "./queue-health.js";
import type { PhotoBatch, PhotoProcessor, PhotoResults } from "./photo-processor.js";
import { SimulatedPhotoProcessor } from "./simulated-photo-processor.js";

let db: TestDatabase;
let queues: TestQueues;
let smtp: SmtpCapture;
let producer: ReturnType<typeof createProducer>;
const running: MeteringWorkers[] = [];

beforeAll(async () => {
  db = await createTestDatabase({ poolSize: 20 });
  queues = createTestQueues();
  smtp = await startSmtpCapture();
  producer = createProducer(db, queues);
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((workers) => workers.close()));
});
afterAll(async () => {
  await producer.close();
  await smtp.close();
  await queues.cleanUp();
  await db.drop();
});

function start(options: Parameters<typeof startTestWorkers>[2] = {}) {
  const workers = startTestWorkers(db, queues, { smtpUrl: smtp.url, ...options });
  running.push(workers);
  return workers;
}

describe("metering a run", () => {
  it("charges each processed photo once, as one Usage transaction per run segment with event, user and type", async () => {
    const { org, event, admin } = await makeOrg(db, { credits: 100 });
    start({ segmentPhotos: 100 });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "AI_IMAGE_ROTATION", photoIds: photoIds(12), userId: admin.id, runId: "rot-1" });
    await waitFor(() => runStatus(db, org.id, "rot-1", "AI_IMAGE_ROTATION"), (r) => r.status === "COMPLETED", { what: "run completed" });
    const { items } = await listTransactions(db, { orgId: org.id, tab: "usage" });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ usageType: "AI_IMAGE_ROTATION", credits: -12, eventId: event.id, actor: "Ada Admin", reference: "rot-1" });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 88, reserved: 0, ledgerSum: 88 });
  });

  it("does not charge photos that failed to process", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    start({ processor: new SimulatedPhotoProcessor({ latencyMsPerPhoto: 0, failureRate: 0.3 }) });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(40), userId: null, runId: "flaky" });
    const run = await waitForRun(db, org.id, "flaky", "COMPLETED");
    expect(run.failed).toBeGreaterThan(0);
    expect(run.charged + run.failed).toBe(40);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 100 - run.charged, ledgerSum: 100 - run.charged, reserved: 0 });
    const { items } = await listTransactions(db, { orgId: org.id, tab: "usage" });
    expect(items.every((t) => t.actor === "System")).toBe(true);
  });

  it("a retry after an error mid-run continues where it stopped and charges nothing twice", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    let calls = 0;
    const throwsOnce: PhotoProcessor = {
      async process(batch: PhotoBatch): Promise<PhotoResults> {
        calls += 1;
        if (calls === 3) throw new Error("GPU fell over");
        return { processed: [...batch.photoIds], failed: [] };
      },
    };
    start({ processor: throwsOnce, segmentPhotos: 5 });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(30), userId: null, runId: "retry" });
    const run = await waitForRun(db, org.id, "retry", "COMPLETED");
    expect(run.charged).toBe(30);
    expect(calls).toBe(7); // 6 segments, one of them twice
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 30, charges: 30, usageCredits: 30 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 70, ledgerSum: 70, reserved: 0, heldReservations: 0 });
  });

  it("the same run enqueued twice, at once and after it completed, is charged once", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const run = { orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(20), userId: null, runId: "twice" };
    await Promise.all([producer.enqueue(run), producer.enqueue(run)]);
    start({ concurrency: 4 });
    await waitForRun(db, org.id, "twice", "COMPLETED");
    expect(await producer.enqueue(run)).toMatchObject({ status: "COMPLETED", alreadyKnown: true });
    await producer.queue.add("PHOTO_PROCESSING", run as never, { jobId: "a-duplicate-job-of-the-same-run" });
    await waitFor(() => producer.queue.getJobCounts("waiting", "active"), (c) => c.waiting === 0 && c.active === 0);
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 20, charges: 20, usageCredits: 20 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 80, ledgerSum: 80 });
  });

  it("a job enqueued around the producer, with no run recorded, is recorded by its worker and charged once", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const run = { orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(12), userId: null, runId: "unrecorded" };
    await producer.queue.add("PHOTO_PROCESSING", run as never, { jobId: "a-job-with-no-run-row" });
    start();
    expect(await waitForRun(db, org.id, "unrecorded", "COMPLETED")).toMatchObject({ charged: 12 });
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 12, charges: 12, usageCredits: 12 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 88, ledgerSum: 88, reserved: 0 });
  });

  it("a run recorded by the release before fingerprints were digests is still the same run", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const run = { orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING" as const, photoIds: photoIds(5), userId: null, runId: "legacy" };
    // What that release's producer wrote: the JSON itself, not its digest.
    await db.pool.query(
      `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint) VALUES ($1, $2, 'PHOTO_PROCESSING', $3, $4, $5)`,
      [org.id, run.runId, event.id, run.photoIds, fingerprint("usage-run", run.eventId, run.userId, run.photoIds)]);
    expect(await producer.enqueue(run)).toMatchObject({ status: "QUEUED", alreadyKnown: true });
    await expect(producer.enqueue({ ...run, photoIds: photoIds(6) })).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
    start();
    expect(await waitForRun(db, org.id, "legacy", "COMPLETED")).toMatchObject({ charged: 5 });
  });

  it("two workers racing for one org's last credits charge exactly what was there", async () => {
    const { org, event } = await makeOrg(db, { credits: 15 });
    start({ concurrency: 1, segmentPhotos: 3 });
    start({ concurrency: 1, segmentPhotos: 3 });
    await Promise.all(["race-a", "race-b"].map((runId) =>
      producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(10, runId), userId: null, runId })));
    // However the segments interleave, 20 photos compete for 15 credits: both runs settle
    // (one may complete), at least one parks, and exactly 15 photos are charged.
    const runs = await waitFor(() => Promise.all([runStatus(db, org.id, "race-a"), runStatus(db, org.id, "race-b")]),
      (all) => all.every((r) => r.status === "PARKED" || r.status === "COMPLETED") && all.some((r) => r.status === "PARKED"),
      { what: "both runs settled, one parked" });
    expect(runs[0]!.charged + runs[1]!.charged).toBe(15);
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 15, charges: 15, usageCredits: 15 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 0, reserved: 0, ledgerSum: 0 });
  });
});

describe("pause and resume", () => {
  it("parks the rest when credits run out, pauses the org with one email to its admins, and a top-up finishes the run", async () => {
    const { org, event, admin } = await makeOrg(db, { credits: 25 });
    await createUser(db, { orgId: org.id, email: "second.admin@example.test", name: "Bo Admin", role: "ADMIN" });
    await createUser(db, { orgId: org.id, email: "operator@example.test", name: "Oli Operator", role: "OPERATOR" });
    const mailBefore = smtp.messages.length;
    start({ segmentPhotos: 10, concurrency: 1 });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(40), userId: admin.id, runId: "big" });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(5, "later"), userId: admin.id, runId: "later" });
    await waitForRun(db, org.id, "big", "PARKED");
    await waitForRun(db, org.id, "later", "PARKED");
    expect(await runStatus(db, org.id, "big")).toMatchObject({ charged: 25 });
    expect(await runStatus(db, org.id, "later")).toMatchObject({ charged: 0 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 0, reserved: 0, ledgerSum: 0 });
    expect((await db.prisma.organisation.findUniqueOrThrow({ where: { id: org.id } })).processingState).toBe("PAUSED");

    expect(await listParkedRuns(db)).toContainEqual(expect.objectContaining({ orgId: org.id, runs: 2, photosWaiting: 20, processingState: "PAUSED" }));
    expect((await queueHealth({ db, queue: producer.queue })).parked).toBeGreaterThanOrEqual(2); // other tests' orgs park too

    // A run enqueued while paused parks without touching the ledger.
    const reservationsBefore = await db.prisma.reservation.count({ where: { orgId: org.id } });
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "AI_IMAGE_ROTATION", photoIds: photoIds(3), userId: null, runId: "while-paused" });
    await waitFor(() => runStatus(db, org.id, "while-paused", "AI_IMAGE_ROTATION"), (r) => r.status === "PARKED");
    expect(await db.prisma.reservation.count({ where: { orgId: org.id } })).toBe(reservationsBefore);

    await waitFor(async () => smtp.messages.length - mailBefore, (n) => n >= 1, { what: "pause email" });
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 100, idempotencyKey: "top-up" });
    await waitForRun(db, org.id, "big", "COMPLETED");
    await waitForRun(db, org.id, "later", "COMPLETED");
    await waitFor(() => runStatus(db, org.id, "while-paused", "AI_IMAGE_ROTATION"), (r) => r.status === "COMPLETED");
    expect(await chargesPerPhoto(db, org.id)).toEqual({ photos: 48, charges: 48, usageCredits: 48 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 77, ledgerSum: 77, reserved: 0 });

    const pauseMail = smtp.messages.slice(mailBefore);
    expect(pauseMail).toHaveLength(1);
    expect(smtp.recipients[mailBefore]!.sort()).toEqual([admin.email, "second.admin@example.test"].sort());
    expect(pauseMail[0]!.subject).toBe(`Processing paused for ${org.name}: out of credits`);
  });

  it("credits held by another run do not pause the org: the waiting run continues when they come back", async () => {
    const { org, event } = await makeOrg(db, { credits: 10 });
    // Another process's run holds every credit for now.
    await reserveCredits(db, { orgId: org.id, key: "someone-else", credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 60_000 });
    start();
    await producer.enqueue({ orgId: org.id, eventId: event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(4), userId: null, runId: "waits" });
    await waitForRun(db, org.id, "waits", "PARKED");
    expect((await db.prisma.organisation.findUniqueOrThrow({ where: { id: org.id } })).processingState).toBe("ACTIVE");
    await captureReservation(db, { orgId: org.id, key: "someone-else", creditsUsed: 3 });
    await waitForRun(db, org.id, "waits", "COMPLETED");
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 3, ledgerSum: 3, reserved: 0 });
  });

  it("the pause email still goes out if the job that paused the org died before sending it", async () => {
    const { org, admin } = await makeOrg(db, { credits: 0 });
    const mailBefore = smtp.messages.length;
    // Paused as the metering loop does, but nobody enqueued the email.
    await pauseIfOutOfCredits(db, org.id, 1);
    start();
    await waitFor(async () => smtp.recipients.slice(mailBefore).filter((to) => to.includes(admin.email)).length, (n) => n >= 1, { what: "pause email" });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(smtp.recipients.slice(mailBefore).filter((to) => to.includes(admin.email))).toHaveLength(1);
    expect((await db.prisma.organisation.findUniqueOrThrow({ where: { id: org.id } })).pauseNotifiedAt).not.toBeNull();
  });

  it("a paused org does not slow another org", async () => {
    const broke = await makeOrg(db, { credits: 0 });
    const rich = await makeOrg(db, { credits: 1000 });
    start({ concurrency: 4 });
    await producer.enqueue({ orgId: broke.org.id, eventId: broke.event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(50), userId: null, runId: "broke" });
    await waitForRun(db, broke.org.id, "broke", "PARKED");
    await Promise.all(Array.from({ length: 5 }, (_, i) => producer.enqueue({
      orgId: rich.org.id, eventId: rich.event.id, kind: "PHOTO_PROCESSING", photoIds: photoIds(20), userId: null, runId: `rich-${i}`,
    })));
    for (let i = 0; i < 5; i++) await waitForRun(db, rich.org.id, `rich-${i}`, "COMPLETED");
    expect(await chargesPerPhoto(db, rich.org.id)).toEqual({ photos: 100, charges: 100, usageCredits: 100 });
    expect((await runStatus(db, broke.org.id, "broke")).status).toBe("PARKED");
  });
});
