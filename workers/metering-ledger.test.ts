import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAppError } from "../core/errors.js";
import { LedgerBatcher } from "../ledger/ledger-batcher.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { fingerprint } from "../ledger/ledger-inputs.js";
import { waitFor } from "../test/wait-for.js";
import { usageRunFingerprint } from "./metering-queues.js";
import { MeteringLedger } from "./metering-ledger.js";
import { startRequest } from "./start-usage-runs.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

/** Records runs as the producer does, oldest first. */
async function recordRuns(orgId: string, eventId: number, runIds: string[], photoIds: string[]): Promise<UsageRunPayload[]> {
  const runs = runIds.map((runId): UsageRunPayload => ({ orgId, eventId, kind: "PHOTO_PROCESSING", userId: null, runId, photoIds }));
  for (const run of runs) {
    await db.pool.query(
      `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint) VALUES ($1, $2, 'PHOTO_PROCESSING', $3, $4, $5)`,
      [orgId, run.runId, eventId, photoIds, usageRunFingerprint(run)]);
  }
  return runs;
}

const firstHold = (run: UsageRunPayload) => ({ key: `${run.runId}.hold`, creditsPerPhoto: 1, segmentPhotos: 10, ttlMs: 60_000 });

describe("the metering ledger's one statement per batch", () => {
  it("starts runs with their first holds, oldest run first when credits run short, and charges segments in the same statement", async () => {
    const { org, event } = await makeOrg(db, { credits: 3 });
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const [oldest, middle, newest] = await recordRuns(org.id, event.id, ["a", "b", "c"], ["p1", "p2"]);

    // The newest asks first: arrival order does not decide who gets the credits, the runs' order does.
    const started = await Promise.all([newest!, middle!, oldest!].map((run) => ledger.begin(run, firstHold(run))));
    expect(started.map((run) => run.firstHold?.creditsReserved)).toEqual([0, 1, 2]);
    expect(started.map((run) => run.firstHold?.creditsRequested)).toEqual([2, 2, 2]);
    expect(started.every((run) => run.status === "RUNNING" && run.fingerprintMatches && !run.mustPark)).toBe(true);

    // One job charges its segment while another run starts: one batch, one statement.
    const [later] = await recordRuns(org.id, event.id, ["d"], ["p1"]);
    const before = ledger.stats().batches;
    const [capture, begun] = await Promise.all([
      ledger.capturePhotos({ orgId: org.id, key: "a.hold", runId: "a", photoIds: ["p1", "p2"], creditsPerPhoto: 1, runDone: true }),
      ledger.begin(later!, firstHold(later!)),
    ]);
    expect(ledger.stats().batches - before).toBe(1);
    expect(capture).toMatchObject({ photosCharged: 2, creditsCaptured: 2, balanceAfter: 1, replayed: false });
    // Balance 1, and run b still holds 1: nothing left for d.
    expect(begun.firstHold).toMatchObject({ creditsRequested: 1, creditsReserved: 0 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 1, ledgerSum: 1, reserved: 1 });
  });

  it("a batch with a capture of a missing hold goes one call at a time, and only that job gets the error", async () => {
    const { org, event } = await makeOrg(db, { credits: 10 });
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const [x, y] = await recordRuns(org.id, event.id, ["x", "y"], ["p1"]);
    await ledger.begin(x!, firstHold(x!));
    const results = await Promise.allSettled([
      ledger.capturePhotos({ orgId: org.id, key: "x.hold", runId: "x", photoIds: ["p1"], creditsPerPhoto: 1, runDone: true }),
      ledger.capturePhotos({ orgId: org.id, key: "no-such-hold", runId: "y", photoIds: ["p1"], creditsPerPhoto: 1 }),
      ledger.begin(y!, firstHold(y!)),
    ]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(isAppError((results[1] as PromiseRejectedResult).reason, "RESERVATION_NOT_FOUND")).toBe(true);
    expect(ledger.stats().refusedBatches).toBe(1);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 9, ledgerSum: 9, reserved: 1 });
  });

  it("a batch that would charge a photo twice goes one call at a time, and the photo is charged once", async () => {
    const { org, event } = await makeOrg(db, { credits: 10 });
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const [x, y] = await recordRuns(org.id, event.id, ["x", "y"], ["p1", "p2"]);
    await Promise.all([x!, y!].map((run) => ledger.begin(run, firstHold(run))));
    // An earlier execution of run x charged p1 under a hold of its own.
    await ledger.reserve({ orgId: org.id, key: "x.earlier", credits: 1, usageType: "PHOTO_PROCESSING", eventId: event.id, reference: "x", ttlMs: 60_000 });
    await ledger.capturePhotos({ orgId: org.id, key: "x.earlier", runId: "x", photoIds: ["p1"], creditsPerPhoto: 1 });

    const refusedBefore = ledger.stats().refusedBatches;
    const [again, other] = await Promise.all([
      ledger.capturePhotos({ orgId: org.id, key: "x.hold", runId: "x", photoIds: ["p1", "p2"], creditsPerPhoto: 1, runDone: true }),
      ledger.capturePhotos({ orgId: org.id, key: "y.hold", runId: "y", photoIds: ["p1", "p2"], creditsPerPhoto: 1, runDone: true }),
    ]);
    expect(ledger.stats().refusedBatches - refusedBefore).toBe(1);
    expect(again).toMatchObject({ photosCharged: 1, creditsCaptured: 1, creditsReleased: 1 });
    expect(other).toMatchObject({ photosCharged: 2, creditsCaptured: 2 });
    const { rows } = await db.pool.query(
      `SELECT u.run_id, count(*)::int AS photos FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence
       WHERE u.org_id = $1 GROUP BY u.run_id ORDER BY u.run_id`, [org.id]);
    expect(rows).toEqual([{ run_id: "x", photos: 2 }, { run_id: "y", photos: 2 }]);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 6, ledgerSum: 6, reserved: 0 });
  });

  it("a capture sent in a batch and replayed on its own is the same capture, whatever its photo ids hold", async () => {
    const { org, event } = await makeOrg(db, { credits: 10 });
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const photos = ["café-é", "卒業式", "say \"cheese\"", "back\\slash", "tab\there"];
    const [m, n] = await recordRuns(org.id, event.id, ["m", "n"], photos);
    await Promise.all([m!, n!].map((run) => ledger.begin(run, firstHold(run))));
    const capture = { orgId: org.id, key: "m.hold", runId: "m", photoIds: photos, creditsPerPhoto: 1, failedPhotoIds: ["x\u00e9"], runDone: true };
    const batchesBefore = ledger.stats().batches;
    const [first] = await Promise.all([
      ledger.capturePhotos(capture),
      ledger.capturePhotos({ orgId: org.id, key: "n.hold", runId: "n", photoIds: photos, creditsPerPhoto: 1, runDone: true }),
    ]);
    expect(ledger.stats().batches - batchesBefore).toBe(1);
    expect(first).toMatchObject({ photosCharged: 5, replayed: false });
    // Alone, the replay goes through ledger_capture_photos, which fingerprints text arrays.
    expect(await ledger.capturePhotos(capture)).toMatchObject({ photosCharged: 5, creditsCaptured: 5, replayed: true });
    await expect(ledger.capturePhotos({ ...capture, photoIds: photos.slice(1) })).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
  });

  it("a batch answers a capture settled before with its first answer, and charges the rest of the batch", async () => {
    const { org, event } = await makeOrg(db, { credits: 10 });
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const [s, t] = await recordRuns(org.id, event.id, ["s", "t"], ["p1", "p2"]);
    await Promise.all([s!, t!].map((run) => ledger.begin(run, firstHold(run))));
    const capture = { orgId: org.id, key: "s.hold", runId: "s", photoIds: ["p1", "p2"], creditsPerPhoto: 1, runDone: true };
    const first = await ledger.capturePhotos(capture);

    const before = ledger.stats();
    const [replay, fresh] = await Promise.all([
      ledger.capturePhotos(capture),
      ledger.capturePhotos({ orgId: org.id, key: "t.hold", runId: "t", photoIds: ["p1"], creditsPerPhoto: 1, runDone: true }),
    ]);
    expect(ledger.stats()).toMatchObject({ batches: before.batches + 1, refusedBatches: before.refusedBatches });
    expect(replay).toEqual({ ...first, replayed: true });
    expect(fresh).toMatchObject({ photosCharged: 1, creditsCaptured: 1, creditsReleased: 1, balanceAfter: 7, replayed: false });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 7, ledgerSum: 7, reserved: 0 });
  });

  it("two batches that each charge one run and start the other lock both runs in the same order, so neither deadlocks", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const [r, s] = await recordRuns(org.id, event.id, ["r", "s"], ["p1", "p2"]);
    const setup = new MeteringLedger(db, new LedgerBatcher(db));
    await Promise.all([r!, s!].map((run) => setup.begin(run, firstHold(run))));
    const { rows: [{ sequence }] } = await db.pool.query("SELECT sequence FROM usage_run WHERE org_id = $1 AND run_id = 'r'", [org.id]);
    // A writer of r's fence that has not committed, so that the first batch stops after taking r.
    const blocker = await db.pool.connect();
    await blocker.query("BEGIN");
    await blocker.query("INSERT INTO photo_charge (run_sequence, photo_id, credits, usage_transaction_id) VALUES ($1, 'p1', 1, 0)", [sequence]);
    const waitingBatches = async (count: number) => waitFor(
      async () => (await db.pool.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0].n,
      (n: number) => n >= count, { what: `${count} batches waiting on a lock` });

    // Takeovers: the first batch charges r and starts s again, the second charges s and starts r again.
    const first = new MeteringLedger(db, new LedgerBatcher(db));
    const second = new MeteringLedger(db, new LedgerBatcher(db));
    const firstBatch = Promise.all([
      first.capturePhotos({ orgId: org.id, key: "r.hold", runId: "r", photoIds: ["p1", "p2"], creditsPerPhoto: 1 }),
      first.begin(s!, { ...firstHold(s!), key: "s.again" }),
    ]);
    await waitingBatches(1);
    const secondBatch = Promise.all([
      second.capturePhotos({ orgId: org.id, key: "s.hold", runId: "s", photoIds: ["p1", "p2"], creditsPerPhoto: 1 }),
      second.begin(r!, { ...firstHold(r!), key: "r.again" }),
    ]);
    await waitingBatches(2);
    await blocker.query("ROLLBACK");
    blocker.release();
    await Promise.all([firstBatch, secondBatch]);

    expect([first.stats().refusedBatches, second.stats().refusedBatches]).toEqual([0, 0]);
    const { rows } = await db.pool.query(
      `SELECT u.run_id, count(*)::int AS photos FROM photo_charge c JOIN usage_run u ON u.sequence = c.run_sequence
       WHERE u.org_id = $1 GROUP BY u.run_id ORDER BY u.run_id`, [org.id]);
    expect(rows).toEqual([{ run_id: "r", photos: 2 }, { run_id: "s", photos: 2 }]);
  });

  it("a batch looks its rows up by key, however the tables have grown since its connection cached its plans", async () => {
    const { org, event } = await makeOrg(db, { credits: 1_000_000 });
    const client = await db.pool.connect();
    const plans: string[] = [];
    client.on("notice", (notice) => plans.push(notice.message ?? ""));
    try {
      await client.query("LOAD 'auto_explain'");
      await client.query("SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice");
      const batch = async (round: number) => {
        const runs = await recordRuns(org.id, event.id, [`plan-${round}-a`, `plan-${round}-b`], ["p1"]);
        const begins = runs.map((run) => startRequest(run, firstHold(run), { recordRun: false }));
        await client.query("SELECT * FROM metering_settle_and_begin('[]', $1::jsonb)", [JSON.stringify(begins)]);
        const captures = runs.map((run) => ({ orgId: org.id, key: firstHold(run).key, runId: run.runId, photoIds: ["p1"], creditsPerPhoto: 1, failedPhotoIds: [], runDone: true }));
        await client.query("SELECT * FROM metering_settle_and_begin($1::jsonb, '[]')", [JSON.stringify(captures)]);
      };
      // Enough batches, while the tables are small, for the connection to keep generic plans.
      for (let round = 0; round < 8; round++) await batch(round);
      await db.pool.query(
        `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint, status)
         SELECT $1, 'grown-' || g, 'PHOTO_PROCESSING', $2, '{p1}', 'f', 'COMPLETED' FROM generate_series(1, 20000) AS g`, [org.id, event.id]);
      plans.length = 0;
      await batch(8);
      expect(plans.length).toBeGreaterThan(0);
      expect(plans.filter((plan) => /Seq Scan on (usage_run|reservation|photo_charge|organisation)\b/.test(plan))).toEqual([]);
    } finally {
      client.release(true);
    }
  });

  it("a run that is finished, waiting its turn or holding stale holds gets no hold", async () => {
    const ledger = new MeteringLedger(db, new LedgerBatcher(db));
    const paused = await makeOrg(db, { credits: 10 });
    const [, waiting, finished] = await recordRuns(paused.org.id, paused.event.id, ["parked", "waiting", "finished"], ["p1"]);
    await db.pool.query("UPDATE usage_run SET status = 'PARKED' WHERE org_id = $1 AND run_id = 'parked'", [paused.org.id]);
    await db.pool.query("UPDATE usage_run SET status = 'COMPLETED' WHERE org_id = $1 AND run_id = 'finished'", [paused.org.id]);
    const other = await makeOrg(db, { credits: 10 });
    const [stale] = await recordRuns(other.org.id, other.event.id, ["stale"], ["p1"]);
    await ledger.reserve({ orgId: other.org.id, key: "stale.old", credits: 1, usageType: "PHOTO_PROCESSING", eventId: other.event.id, reference: "stale", ttlMs: 60_000 });

    const [waited, done, staled] = await Promise.all([waiting!, finished!, stale!].map((run) => ledger.begin(run, firstHold(run))));
    expect(waited).toMatchObject({ mustPark: true, firstHold: null });
    expect(done).toMatchObject({ status: "COMPLETED", firstHold: null });
    expect(staled).toMatchObject({ mustPark: false, staleHoldKeys: ["stale.old"], firstHold: null });
    expect(await readBooks(db, paused.org.id)).toMatchObject({ balance: 10, reserved: 0 });
    expect(await readBooks(db, other.org.id)).toMatchObject({ balance: 10, reserved: 1 });
  });

  it("a run's fingerprint is the digest PostgreSQL computes from the old form", async () => {
    const run: UsageRunPayload = {
      orgId: "00000000-0000-4000-8000-000000000000", eventId: 7, kind: "PHOTO_PROCESSING", userId: null, runId: "r",
      photoIds: ["plain", "café-é", "卒業式-01", "\"quoted\""],
    };
    const { rows } = await db.pool.query(
      "SELECT usage_run_fingerprint_digest($1) AS digest",
      [fingerprint("usage-run", run.eventId, run.userId, run.photoIds)],
    );
    expect(usageRunFingerprint(run)).toBe(rows[0].digest);
  });

  it("a run's photo lists are never NULL, so a worker always reads arrays", async () => {
    const { org, event } = await makeOrg(db, { credits: 1 });
    const [run] = await recordRuns(org.id, event.id, ["lists"], ["p1"]);
    for (const column of ["photo_ids", "failed_photo_ids"]) {
      await expect(db.pool.query(`UPDATE usage_run SET ${column} = NULL WHERE org_id = $1 AND run_id = $2`, [org.id, run!.runId]))
        .rejects.toMatchObject({ code: "23502", column });
    }
    const { rows } = await db.pool.query("SELECT failed_photo_ids FROM usage_run WHERE org_id = $1 AND run_id = $2", [org.id, run!.runId]);
    expect(rows[0].failed_photo_ids).toEqual([]);
  });
});
