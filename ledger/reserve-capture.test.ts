import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isAppError } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg, readBooks } from "../test/factories.js";
import {
  captureReservation, expireReservations, getBalance, grantCredits, listTransactions, releaseReservation, reserveCredits,
} from "./index.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

const ttlMs = 60_000;

describe("reserve, capture, release", () => {
  it("reserves all, part, or none of a request and never more than is available", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    const all = await reserveCredits(db, { orgId: org.id, key: "r-all", credits: 60, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    const part = await reserveCredits(db, { orgId: org.id, key: "r-part", credits: 60, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    const none = await reserveCredits(db, { orgId: org.id, key: "r-none", credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    expect([all.creditsReserved, part.creditsReserved, none.creditsReserved]).toEqual([60, 40, 0]);
    expect(await getBalance(db, org.id)).toMatchObject({ balanceCredits: 100, reservedCredits: 100, availableCredits: 0 });
  });

  it("capture charges the used part as one Usage transaction and releases the rest", async () => {
    const { org, event, admin } = await makeOrg(db, { credits: 100 });
    await reserveCredits(db, {
      orgId: org.id, key: "run-1", credits: 30, usageType: "AI_IMAGE_ROTATION", eventId: event.id, userId: admin.id, reference: "run-1", ttlMs,
    });
    const capture = await captureReservation(db, { orgId: org.id, key: "run-1", creditsUsed: 25 });
    expect(capture).toMatchObject({ creditsCaptured: 25, creditsReleased: 5, balanceAfter: 75, replayed: false });
    expect(await getBalance(db, org.id)).toMatchObject({ balanceCredits: 75, reservedCredits: 0, availableCredits: 75 });
    const { items } = await listTransactions(db, { orgId: org.id, tab: "usage" });
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({
      id: capture.transactionId, type: "USAGE", usageType: "AI_IMAGE_ROTATION", credits: -25, eventId: event.id,
      eventName: event.name, userId: admin.id, actor: "Ada Admin", balanceAfter: 75, reference: "run-1",
    });
  });

  it("capturing nothing writes no transaction; release gives the hold back once", async () => {
    const { org, event } = await makeOrg(db, { credits: 50 });
    await reserveCredits(db, { orgId: org.id, key: "a", credits: 20, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    await reserveCredits(db, { orgId: org.id, key: "b", credits: 20, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    expect(await captureReservation(db, { orgId: org.id, key: "a", creditsUsed: 0 })).toMatchObject({ transactionId: null, creditsReleased: 20 });
    expect(await releaseReservation(db, { orgId: org.id, key: "b" })).toEqual({ status: "RELEASED", creditsReleased: 20 });
    expect(await releaseReservation(db, { orgId: org.id, key: "b" })).toEqual({ status: "RELEASED", creditsReleased: 0 });
    expect(await getBalance(db, org.id)).toMatchObject({ balanceCredits: 50, reservedCredits: 0 });
    expect((await listTransactions(db, { orgId: org.id, tab: "usage" })).items).toHaveLength(0);
  });

  it("refuses to capture more than the hold, or a hold that was released", async () => {
    const { org, event } = await makeOrg(db, { credits: 50 });
    await reserveCredits(db, { orgId: org.id, key: "h", credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    await expect(captureReservation(db, { orgId: org.id, key: "h", creditsUsed: 11 })).rejects.toSatisfy((e) => isAppError(e, "CAPTURE_EXCEEDS_RESERVATION"));
    await releaseReservation(db, { orgId: org.id, key: "h" });
    await expect(captureReservation(db, { orgId: org.id, key: "h", creditsUsed: 1 })).rejects.toSatisfy((e) => isAppError(e, "RESERVATION_NOT_HELD"));
    await expect(captureReservation(db, { orgId: org.id, key: "nope", creditsUsed: 1 })).rejects.toSatisfy((e) => isAppError(e, "RESERVATION_NOT_FOUND"));
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 50, reserved: 0, ledgerSum: 50 });
  });

  it("the sweeper expires holds past their expiry and leaves live ones", async () => {
    const { org, event } = await makeOrg(db, { credits: 50 });
    await reserveCredits(db, { orgId: org.id, key: "dead-worker", credits: 20, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 1_000 });
    await reserveCredits(db, { orgId: org.id, key: "live-worker", credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const expired = await expireReservations(db);
    expect(expired.filter((r) => r.orgId === org.id)).toEqual([{ orgId: org.id, key: "dead-worker", creditsReleased: 20 }]);
    expect(await getBalance(db, org.id)).toMatchObject({ reservedCredits: 10, availableCredits: 40 });
    await expect(captureReservation(db, { orgId: org.id, key: "dead-worker", creditsUsed: 5 })).rejects.toThrow(/expired/);
    expect(await readBooks(db, org.id)).toMatchObject({ balance: 50, reserved: 10, heldReservations: 10 });
  });

  it("grants add to the balance and appear on the purchases tab", async () => {
    const { org, admin } = await makeOrg(db);
    await grantCredits(db, { orgId: org.id, type: "FREE_CREDITS", credits: 100, idempotencyKey: "welcome" });
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 1000, idempotencyKey: "pay-1", userId: admin.id, reference: "payment 1" });
    await grantCredits(db, { orgId: org.id, type: "ADMIN_GRANT", credits: 5, idempotencyKey: "goodwill", reference: "sorry for the outage" });
    const { items } = await listTransactions(db, { orgId: org.id, tab: "purchases" });
    expect(items.map((t) => [t.type, t.credits, t.balanceAfter, t.actor])).toEqual([
      ["ADMIN_GRANT", 5, 1105, "System"],
      ["PURCHASE", 1000, 1100, "Ada Admin"],
      ["FREE_CREDITS", 100, 100, "System"],
    ]);
  });
});
