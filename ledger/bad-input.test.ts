import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, type ErrorCode } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg } from "../test/factories.js";
import { capturePhotoCharges, captureReservation, grantCredits, refundUsage, reserveCredits } from "./index.js";

let db: TestDatabase;
let org: Awaited<ReturnType<typeof makeOrg>>;
let other: Awaited<ReturnType<typeof makeOrg>>;
let usageTransactionId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  org = await makeOrg(db, { credits: 100 });
  other = await makeOrg(db, { credits: 100 });
  await reserveCredits(db, { orgId: org.org.id, key: "used", credits: 10, usageType: "PHOTO_PROCESSING", eventId: org.event.id, ttlMs: 60_000 });
  usageTransactionId = (await captureReservation(db, { orgId: org.org.id, key: "used", creditsUsed: 10 })).transactionId!;
  await reserveCredits(db, { orgId: org.org.id, key: "held", credits: 5, usageType: "PHOTO_PROCESSING", eventId: org.event.id, ttlMs: 600_000 });
});
afterAll(async () => { await db.drop(); });

async function ledgerRowCount() {
  const { rows } = await db.pool.query<{ transactions: string; reservations: string; lots: string; balances: string; charges: string }>(
    `SELECT (SELECT count(*) FROM credit_transaction) AS transactions, (SELECT count(*) FROM reservation) AS reservations,
            (SELECT count(*) FROM photo_charge) AS charges,
            (SELECT count(*) FROM credit_lot) AS lots, (SELECT string_agg(balance_credits || '/' || reserved_credits, ',' ORDER BY id) FROM organisation) AS balances`);
  return rows[0];
}

type Case = [name: string, call: () => Promise<unknown>, code: ErrorCode, message: RegExp];

const grant = (credits: unknown, orgId?: string) => () =>
  grantCredits(db, { orgId: orgId ?? org.org.id, type: "PURCHASE", credits: credits as number, idempotencyKey: randomUUID() });
const reserve = (fields: Record<string, unknown>) => () =>
  reserveCredits(db, { orgId: org.org.id, key: randomUUID(), credits: 5, usageType: "PHOTO_PROCESSING", eventId: org.event.id, ttlMs: 60_000, ...fields } as never);

const cases: Case[] = [
  ["zero credits", grant(0), "INVALID_INPUT", /credits: must be greater than 0/],
  ["negative credits", grant(-5), "INVALID_INPUT", /credits: must be greater than 0/],
  ["fractional credits", grant(1.5), "INVALID_INPUT", /credits: must be a whole number of credits/],
  ["non-numeric credits", grant("100"), "INVALID_INPUT", /credits: must be a finite number of credits/],
  ["NaN credits", grant(Number.NaN), "INVALID_INPUT", /credits: must be a finite number of credits/],
  ["infinite credits", grant(Number.POSITIVE_INFINITY), "INVALID_INPUT", /credits: must be a finite number of credits/],
  ["absurdly large credits", grant(1e15), "INVALID_INPUT", /credits: must be at most 100,000,000/],
  ["missing credits", grant(undefined), "INVALID_INPUT", /credits: is required/],
  ["key in the usage namespace", () => grantCredits(db, { orgId: org.org.id, type: "PURCHASE", credits: 5, idempotencyKey: "capture:run-1" }),
    "INVALID_INPUT", /idempotencyKey: must not start with "capture:"/],
  ["unknown org", grant(10, randomUUID()), "ORG_NOT_FOUND", /organisation .* not found/],
  ["malformed org id", grant(10, "org-1"), "INVALID_INPUT", /orgId: must be an organisation id/],
  ["unknown event", reserve({ eventId: 987654 }), "EVENT_NOT_FOUND", /event 987654 not found in organisation/],
  ["event of another org", () => reserve({ eventId: other.event.id })(), "EVENT_NOT_FOUND", /event \d+ not found in organisation/],
  ["user of another org", () => reserve({ userId: other.admin.id })(), "USER_NOT_FOUND", /user .* not found in organisation/],
  ["unknown usage type", reserve({ usageType: "FACE_SWAP" }), "INVALID_INPUT", /usageType: must be PHOTO_PROCESSING or AI_IMAGE_ROTATION/],
  ["unknown field", reserve({ priority: "high" }), "INVALID_INPUT", /priority|Unrecognized key/],
  ["empty key", reserve({ key: "" }), "INVALID_INPUT", /key: must not be empty/],
  ["negative capture", () => captureReservation(db, { orgId: org.org.id, key: "used", creditsUsed: -1 }), "INVALID_INPUT", /creditsUsed: must not be negative/],
  ["a photo twice in one capture", () => capturePhotoCharges(db, { orgId: org.org.id, key: "used", runId: "r", photoIds: ["p1", "p1"], creditsPerPhoto: 1 }),
    "INVALID_INPUT", /photoIds: must not repeat a photo id/],
  ["photos of a run that was never recorded", () => capturePhotoCharges(db, { orgId: org.org.id, key: "held", runId: "never-recorded", photoIds: ["p1"], creditsPerPhoto: 1 }),
    "USAGE_RUN_NOT_FOUND", /usage run "never-recorded" \(PHOTO_PROCESSING\) not found in organisation/],
  ["refund larger than the usage", () => refundUsage(db, { orgId: org.org.id, usageTransactionId, credits: 11, idempotencyKey: randomUUID(), reason: "too much" }),
    "REFUND_EXCEEDS_USAGE", /cannot refund 11 credits: usage transaction \d+ charged 10/],
  ["refund without a reason", () => refundUsage(db, { orgId: org.org.id, usageTransactionId, credits: 1, idempotencyKey: randomUUID(), reason: " " }),
    "INVALID_INPUT", /reason: must say why/],
  ["refund of a purchase", async () => {
    const { rows } = await db.pool.query("SELECT id FROM credit_transaction WHERE org_id = $1 AND type = 'PURCHASE'", [org.org.id]);
    return refundUsage(db, { orgId: org.org.id, usageTransactionId: String(rows[0].id), credits: 1, idempotencyKey: randomUUID(), reason: "no" });
  }, "USAGE_TRANSACTION_NOT_FOUND", /usage transaction \d+ not found/],
];

describe("bad input gets a typed error and writes nothing", () => {
  it.each(cases)("%s", async (_name, call, code, message) => {
    const before = await ledgerRowCount();
    const error = await call().then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(code);
    expect((error as AppError).message).toMatch(message);
    expect(await ledgerRowCount()).toEqual(before);
  });
});
