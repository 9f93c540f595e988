import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAppError } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { captureReservation, creditsUsedBySource, grantCredits, refundUsage, reserveCredits } from "./index.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

async function lots(orgId: string) {
  const { rows } = await db.pool.query<{ source: string; credits: string; remaining_credits: string }>(
    "SELECT source, credits, remaining_credits FROM credit_lot WHERE org_id = $1 ORDER BY id", [orgId]);
  return rows.map((r) => [r.source, Number(r.credits), Number(r.remaining_credits)]);
}

async function use(orgId: string, eventId: number, key: string, credits: number) {
  await reserveCredits(db, { orgId, key, credits, usageType: "PHOTO_PROCESSING", eventId, ttlMs: 60_000 });
  return (await captureReservation(db, { orgId, key, creditsUsed: credits })).transactionId!;
}

const wholeTime = { from: new Date("2000-01-01"), to: new Date("2100-01-01") };

describe("credit lots", () => {
  it("usage draws on lots oldest first, free and paid alike", async () => {
    const { org, event } = await makeOrg(db);
    await grantCredits(db, { orgId: org.id, type: "FREE_CREDITS", credits: 100, idempotencyKey: "free" });
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "paid" });
    await grantCredits(db, { orgId: org.id, type: "ADMIN_GRANT", credits: 50, idempotencyKey: "grant" });
    await use(org.id, event.id, "u1", 60);
    expect(await lots(org.id)).toEqual([["FREE_CREDITS", 100, 40], ["PURCHASE", 1000, 1000], ["ADMIN_GRANT", 50, 50]]);
    await use(org.id, event.id, "u2", 1060);
    expect(await lots(org.id)).toEqual([["FREE_CREDITS", 100, 0], ["PURCHASE", 1000, 0], ["ADMIN_GRANT", 50, 30]]);
    expect(await creditsUsedBySource(db, { orgId: org.id, ...wholeTime })).toEqual({ freeCredits: 120, paidCredits: 1000 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 30, lotsRemaining: 30, lotsNotMatchingMovements: 0, transactionsNotMatchingMovements: 0 });
  });

  it("a refund returns credits to the lots the usage drew on, last drawn first, and never more than it charged", async () => {
    const { org, event } = await makeOrg(db);
    await grantCredits(db, { orgId: org.id, type: "FREE_CREDITS", credits: 10, idempotencyKey: "free" });
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "paid" });
    const usage = await use(org.id, event.id, "u", 30);
    expect(await lots(org.id)).toEqual([["FREE_CREDITS", 10, 0], ["PURCHASE", 1000, 980]]);

    await refundUsage(db, { orgId: org.id, usageTransactionId: usage, credits: 25, idempotencyKey: "r1", reason: "duplicate upload" });
    expect(await lots(org.id)).toEqual([["FREE_CREDITS", 10, 5], ["PURCHASE", 1000, 1000]]);
    await expect(refundUsage(db, { orgId: org.id, usageTransactionId: usage, credits: 6, idempotencyKey: "r2", reason: "again" }))
      .rejects.toSatisfy((e) => isAppError(e, "REFUND_EXCEEDS_USAGE") && /charged 30 and 25 are already refunded/.test(e.message));
    await refundUsage(db, { orgId: org.id, usageTransactionId: usage, credits: 5, idempotencyKey: "r3", reason: "rest" });
    expect(await lots(org.id)).toEqual([["FREE_CREDITS", 10, 10], ["PURCHASE", 1000, 1000]]);
    expect(await creditsUsedBySource(db, { orgId: org.id, ...wholeTime })).toEqual({ freeCredits: 0, paidCredits: 0 });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 1010, ledgerSum: 1010, lotsRemaining: 1010, lotsNotMatchingMovements: 0, transactionsNotMatchingMovements: 0 });
  });

  it("refunds only usage of the caller's own org", async () => {
    const mine = await makeOrg(db, { credits: 100 });
    const theirs = await makeOrg(db, { credits: 100 });
    const usage = await use(theirs.org.id, theirs.event.id, "u", 10);
    await expect(refundUsage(db, { orgId: mine.org.id, usageTransactionId: usage, credits: 1, idempotencyKey: "x", reason: "r" }))
      .rejects.toSatisfy((e) => isAppError(e, "USAGE_TRANSACTION_NOT_FOUND"));
    expect(await readBooks(db, mine.org.id)).toMatchObject({ balance: 100, ledgerSum: 100 });
  });
  it("a draw that leaves its lot open writes no entry in the open-lot index, so an org's hot lot does not pile up dead versions", async () => {
    const { org, event } = await makeOrg(db);
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "paid" });
    await db.pool.query("CREATE EXTENSION IF NOT EXISTS pageinspect");
    // Leaf entries, live or dead, across the index's pages.
    const openLotEntries = async () => {
      const { rows } = await db.pool.query<{ entries: number }>(
        `SELECT COALESCE(sum(s.live_items + s.dead_items), 0)::int AS entries
         FROM generate_series(1, (pg_relation_size('credit_lot_open_idx') / 8192 - 1)::int) AS b,
              bt_page_stats('credit_lot_open_idx', b) AS s
         WHERE s.type = 'l'`);
      return rows[0]!.entries;
    };
    const before = await openLotEntries();
    for (let i = 0; i < 20; i++) await use(org.id, event.id, `draw-${i}`, 10);
    expect(await openLotEntries()).toBe(before);
    expect(await lots(org.id)).toEqual([["PURCHASE", 1000, 800]]);
  });
});
