import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAppError } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { grantCredits } from "./index.js";
import { LedgerBatcher } from "./ledger-batcher.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

async function orgWithLots() {
  const made = await makeOrg(db);
  await grantCredits(db, { orgId: made.org.id, type: "FREE_CREDITS", credits: 5, idempotencyKey: "free" });
  await grantCredits(db, { orgId: made.org.id, type: "PURCHASE", credits: 20, idempotencyKey: "paid" });
  await grantCredits(db, { orgId: made.org.id, type: "ADMIN_GRANT", credits: 10, idempotencyKey: "grant" });
  return made;
}

async function recordRun(orgId: string, eventId: number, runId: string, photoIds: string[]) {
  await db.pool.query(
    `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint) VALUES ($1, $2, 'PHOTO_PROCESSING', $3, $4, 'f')`,
    [orgId, runId, eventId, photoIds]);
}

describe("the ledger batcher's set-based statements", () => {
  it("reserve greedily in order, charge photos once, draw lots oldest first, and keep the books, like one-by-one calls", async () => {
    const orgs = [await orgWithLots(), await orgWithLots()];
    const batcher = new LedgerBatcher(db);
    const requests = orgs.flatMap(({ org, event }) => Array.from({ length: 12 }, (_, i) => ({ org, event, i, runId: `run-${i}` })));
    for (const { org, event, runId } of requests) await recordRun(org.id, event.id, runId, ["a", "b", "c", "d"]);

    const holds = await Promise.all(requests.map(({ org, event, i, runId }) => batcher.reserve({
      orgId: org.id, key: `hold-${i}`, credits: 4, usageType: "PHOTO_PROCESSING", eventId: event.id, reference: runId, ttlMs: 60_000,
    })));
    for (const { org } of orgs) {
      const mine = holds.filter((_, index) => requests[index]!.org.id === org.id);
      expect(mine.reduce((sum, hold) => sum + hold.creditsReserved, 0)).toBe(35);
      expect(mine.map((hold) => hold.creditsReserved).filter((credits) => credits > 0 && credits < 4).length).toBeLessThanOrEqual(1);
    }

    const captures = await Promise.all(requests.map(({ org, i, runId }, index) => batcher.capturePhotos({
      orgId: org.id, key: `hold-${i}`, runId, creditsPerPhoto: 1,
      photoIds: ["a", "b", "c", "d"].slice(0, holds[index]!.creditsReserved), failedPhotoIds: [], runDone: true,
    })));
    expect(captures.reduce((sum, capture) => sum + capture.photosCharged, 0)).toBe(70);

    for (const { org } of orgs) {
      expect(await readBooks(db, org.id)).toEqual({
        balance: 0, reserved: 0, ledgerSum: 0, heldReservations: 0, lotsRemaining: 0, lotsNotMatchingMovements: 0, transactionsNotMatchingMovements: 0,
      });
      const { rows } = await db.pool.query<{ balance_after: string; credits: number }>(
        "SELECT balance_after, credits FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE' ORDER BY id", [org.id]);
      let balance = 35;
      for (const row of rows) {
        balance += row.credits;
        expect(Number(row.balance_after)).toBe(balance);
      }
      const draws = await db.pool.query<{ source: string; first_draw: string }>(
        `SELECT l.source, min(m.transaction_id) AS first_draw FROM lot_movement m JOIN credit_lot l ON l.id = m.lot_id
         WHERE l.org_id = $1 AND m.credits < 0 GROUP BY l.source, l.id ORDER BY l.id`, [org.id]);
      const firstDraws = draws.rows.map((row) => Number(row.first_draw));
      expect(firstDraws).toEqual([...firstDraws].sort((a, b) => a - b));
    }
    expect(batcher.stats().reservations.batches).toBeGreaterThan(0);
    expect(batcher.stats().captures.batches).toBeGreaterThan(0);
    expect(batcher.stats().reservations.refusedBatches + batcher.stats().captures.refusedBatches).toBe(0);
  });

  it("a photo already charged in the run is not charged again, and a replayed capture answers with the first result", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const batcher = new LedgerBatcher(db);
    await recordRun(org.id, event.id, "r", ["p1", "p2", "p3"]);
    const keys = ["s1", "s2", "s3"];
    await Promise.all(keys.map((key) => batcher.reserve({ orgId: org.id, key, credits: 3, usageType: "PHOTO_PROCESSING", eventId: event.id, reference: "r", ttlMs: 60_000 })));
    const [first] = await Promise.all([
      batcher.capturePhotos({ orgId: org.id, key: "s1", runId: "r", photoIds: ["p1", "p2"], creditsPerPhoto: 1 }),
    ]);
    // s2 and s3 arrive together (one batch) though they name the same run: the lane refuses it and goes one by one.
    const [second, third] = await Promise.all([
      batcher.capturePhotos({ orgId: org.id, key: "s2", runId: "r", photoIds: ["p2", "p3"], creditsPerPhoto: 1 }),
      batcher.capturePhotos({ orgId: org.id, key: "s3", runId: "r", photoIds: ["p1", "p2", "p3"], creditsPerPhoto: 1 }),
    ]);
    expect([first.photosCharged, second!.photosCharged + third!.photosCharged]).toEqual([2, 1]);
    const replay = await batcher.capturePhotos({ orgId: org.id, key: "s1", runId: "r", photoIds: ["p1", "p2"], creditsPerPhoto: 1 });
    expect(replay).toEqual({ ...first, replayed: true });
    await expect(batcher.capturePhotos({ orgId: org.id, key: "s1", runId: "r", photoIds: ["p3"], creditsPerPhoto: 1 }))
      .rejects.toSatisfy((e) => isAppError(e, "IDEMPOTENCY_CONFLICT") && /already captured with other photos/.test(e.message));
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 97, ledgerSum: 97, reserved: 0 });
  });

  it("a batch with a bad request is sent one by one, and only that caller gets the error", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const batcher = new LedgerBatcher(db);
    for (const runId of ["x", "y", "z"]) await recordRun(org.id, event.id, runId, ["p"]);
    await Promise.all(["x", "y"].map((key) => batcher.reserve({ orgId: org.id, key, credits: 1, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 60_000 })));
    const results = await Promise.allSettled([
      batcher.capturePhotos({ orgId: org.id, key: "x", runId: "x", photoIds: ["p"], creditsPerPhoto: 1 }),
      batcher.capturePhotos({ orgId: org.id, key: "y", runId: "y", photoIds: ["p"], creditsPerPhoto: 1 }),
      batcher.capturePhotos({ orgId: org.id, key: "no-such-hold", runId: "z", photoIds: ["p"], creditsPerPhoto: 1 }),
    ]);
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(isAppError((results[2] as PromiseRejectedResult).reason, "RESERVATION_NOT_FOUND")).toBe(true);
    expect(batcher.stats().captures.refusedBatches).toBe(1);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 98, ledgerSum: 98, reserved: 0 });
  });
});
