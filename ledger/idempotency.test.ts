import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg, readBooks } from "../test/factories.js";
import { captureReservation, grantCredits, refundUsage, reserveCredits } from "./index.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

async function conflictOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(() => null, (e: unknown) => e);
  expect(error).toBeInstanceOf(AppError);
  expect((error as AppError).code).toBe("IDEMPOTENCY_CONFLICT");
  return error as AppError;
}

describe("idempotency: the same key and arguments give the first result and change nothing", () => {
  it("grant", async () => {
    const { org } = await makeOrg(db);
    const grant = { orgId: org.id, type: "PURCHASE" as const, credits: 1000, idempotencyKey: "payment-7", reference: "pi_7" };
    const first = await grantCredits(db, grant);
    const again = await grantCredits(db, grant);
    expect(again).toEqual({ ...first, replayed: true });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 1000, ledgerSum: 1000, lotsRemaining: 1000 });

    const conflict = await conflictOf(grantCredits(db, { ...grant, credits: 2000 }));
    expect(conflict.message).toContain('"payment-7"');
    await conflictOf(grantCredits(db, { ...grant, type: "FREE_CREDITS" }));
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 1000, ledgerSum: 1000 });
  });

  it("reserve and capture", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const hold = { orgId: org.id, key: "run-9", credits: 40, usageType: "PHOTO_PROCESSING" as const, eventId: event.id, ttlMs: 60_000 };
    const first = await reserveCredits(db, hold);
    expect(await reserveCredits(db, hold)).toEqual({ ...first, replayed: true });
    expect(await readBooks(db, org.id)).toMatchObject({ reserved: 40 });
    expect((await conflictOf(reserveCredits(db, { ...hold, credits: 41 }))).message).toContain('"run-9"');

    const capture = await captureReservation(db, { orgId: org.id, key: "run-9", creditsUsed: 30 });
    expect(await captureReservation(db, { orgId: org.id, key: "run-9", creditsUsed: 30 })).toEqual({ ...capture, replayed: true });
    expect((await conflictOf(captureReservation(db, { orgId: org.id, key: "run-9", creditsUsed: 31 }))).message).toContain('"run-9"');
    // Reserving again under a settled key answers with the settled reservation, not a new hold.
    expect(await reserveCredits(db, hold)).toMatchObject({ status: "CAPTURED", replayed: true });
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 70, reserved: 0, ledgerSum: 70 });
  });

  it("refund", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    await reserveCredits(db, { orgId: org.id, key: "run", credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 60_000 });
    const { transactionId } = await captureReservation(db, { orgId: org.id, key: "run", creditsUsed: 10 });
    const refund = { orgId: org.id, usageTransactionId: transactionId!, credits: 4, idempotencyKey: "refund-1", reason: "blurry photos" };
    const first = await refundUsage(db, refund);
    expect(await refundUsage(db, refund)).toEqual({ ...first, replayed: true });
    expect((await conflictOf(refundUsage(db, { ...refund, credits: 5 }))).message).toContain('"refund-1"');
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 94, ledgerSum: 94 });
  });

  it("concurrent calls with one key apply once", async () => {
    const { org } = await makeOrg(db);
    const grant = { orgId: org.id, type: "PURCHASE" as const, credits: 500, idempotencyKey: "double-click" };
    const results = await Promise.all(Array.from({ length: 16 }, () => grantCredits(db, grant)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.transactionId)).size).toBe(1);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 500, ledgerSum: 500 });
  });
});
