import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { backdateTransaction, makeOrg } from "../test/factories.js";
import { createEvent } from "../organisations/create-event.js";
import { captureReservation, grantCredits, monthlySummary, refundUsage, reserveCredits, usageByEvent } from "./index.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

async function useAt(orgId: string, eventId: number, key: string, credits: number, at: Date) {
  await reserveCredits(db, { orgId, key, credits, usageType: "PHOTO_PROCESSING", eventId, reference: key, ttlMs: 60_000 });
  const { transactionId } = await captureReservation(db, { orgId, key, creditsUsed: credits });
  await backdateTransaction(db, transactionId!, at);
  return transactionId!;
}

async function grantAt(orgId: string, key: string, credits: number, at: Date) {
  const { transactionId } = await grantCredits(db, { orgId, type: "PURCHASE", credits, idempotencyKey: key });
  await backdateTransaction(db, transactionId, at);
}

describe("monthly summary", () => {
  it("follows the org's time zone: 23:30 on 31 March in Berlin belongs to March", async () => {
    const { org, event } = await makeOrg(db, { timeZone: "Europe/Berlin" });
    await grantAt(org.id, "g", 1000, new Date("2026-02-10T12:00:00Z"));
    // 23:30 CEST on 31 March is 21:30 UTC; 00:30 CEST on 1 April is 22:30 UTC on 31 March.
    await useAt(org.id, event.id, "late-march", 7, new Date("2026-03-31T21:30:00Z"));
    await useAt(org.id, event.id, "early-april", 11, new Date("2026-03-31T22:30:00Z"));
    const months = await monthlySummary(db, { orgId: org.id, asOf: new Date("2026-04-15T12:00:00Z") });
    expect(months.map((m) => [m.month, m.creditsUsed, m.creditsAdded, m.netCredits, m.usageTransactionCount])).toEqual([
      ["2026-04", 11, 0, -11, 1],
      ["2026-03", 7, 0, -7, 1],
      ["2026-02", 0, 1000, 1000, 0],
      ["2026-01", 0, 0, 0, 0],
    ]);
    expect(months[1]!.startsAt.toISOString()).toBe("2026-02-28T23:00:00.000Z");
    expect(months[1]!.endsAt.toISOString()).toBe("2026-03-31T22:00:00.000Z");
  });

  it("the same instants fall in other months for an org in another zone", async () => {
    const { org, event } = await makeOrg(db, { timeZone: "America/New_York", credits: 100 });
    await useAt(org.id, event.id, "a", 7, new Date("2026-03-31T21:30:00Z"));
    await useAt(org.id, event.id, "b", 11, new Date("2026-04-01T03:30:00Z")); // 23:30 on 31 March in New York
    const [april, march] = await monthlySummary(db, { orgId: org.id, asOf: new Date("2026-04-15T12:00:00Z") });
    expect([april!.creditsUsed, march!.creditsUsed]).toEqual([0, 18]);
  });

  it("marks the month the org is in now as current, and counts refunds as credits added", async () => {
    const { org, event } = await makeOrg(db, { credits: 100 });
    await reserveCredits(db, { orgId: org.id, key: "now", credits: 10, usageType: "AI_IMAGE_ROTATION", eventId: event.id, ttlMs: 60_000 });
    const { transactionId } = await captureReservation(db, { orgId: org.id, key: "now", creditsUsed: 10 });
    await refundUsage(db, { orgId: org.id, usageTransactionId: transactionId!, credits: 3, idempotencyKey: "r", reason: "failed uploads" });
    const months = await monthlySummary(db, { orgId: org.id });
    expect(months.map((m) => m.current)).toEqual([true, false, false, false]);
    expect(months[0]).toMatchObject({ creditsUsed: 10, creditsAdded: 103, netCredits: 93, usageTransactionCount: 1 });
  });
});

describe("usage by event", () => {
  it("sums credits and runs per event, largest first, within a period", async () => {
    const { org, event } = await makeOrg(db, { credits: 1000 });
    const gala = await createEvent(db, { orgId: org.id, name: "Gala Ночь 夜会" });
    const inMay = new Date("2026-05-10T10:00:00Z");
    await useAt(org.id, event.id, "run-1", 5, inMay);
    await useAt(org.id, gala.id, "run-2", 20, inMay);
    await useAt(org.id, gala.id, "run-3", 30, inMay);
    await useAt(org.id, gala.id, "run-4", 99, new Date("2026-06-02T10:00:00Z"));
    const may = await usageByEvent(db, { orgId: org.id, from: new Date("2026-05-01T00:00:00Z"), to: new Date("2026-06-01T00:00:00Z") });
    expect(may).toEqual([
      { eventId: gala.id, eventName: "Gala Ночь 夜会", creditsUsed: 50, creditsRefunded: 0, runs: 2 },
      { eventId: event.id, eventName: event.name, creditsUsed: 5, creditsRefunded: 0, runs: 1 },
    ]);
  });
});
