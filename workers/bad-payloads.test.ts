import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError, type ErrorCode } from "../core/errors.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { createTestQueues, type TestQueues } from "../test/test-queues.js";
import { makeOrg } from "../test/factories.js";
import { createProducer, photoIds, startTestWorkers } from "../test/metering-harness.js";
import { waitFor } from "../test/wait-for.js";
import type { MeteringWorkers } from "./metering-workers.js";

let db: TestDatabase;
let queues: TestQueues;
let producer: ReturnType<typeof createProducer>;
let workers: MeteringWorkers;
let mine: Awaited<ReturnType<typeof makeOrg>>;
let other: Awaited<ReturnType<typeof makeOrg>>;

beforeAll(async () => {
  db = await createTestDatabase();
  queues = createTestQueues();
  producer = createProducer(db, queues);
  workers = startTestWorkers(db, queues);
  mine = await makeOrg(db, { credits: 100 });
  other = await makeOrg(db, { credits: 100 });
});
afterAll(async () => {
  await workers.close();
  await producer.close();
  await queues.cleanUp();
  await db.drop();
});

const valid = () => ({ orgId: mine.org.id, eventId: mine.event.id, kind: "PHOTO_PROCESSING", photoIds: ["a", "b"], userId: null, runId: "run-1" });

const cases: [name: string, payload: () => Record<string, unknown>, code: ErrorCode, rule: RegExp][] = [
  ["missing org", () => { const { orgId: _, ...rest } = valid(); return rest; }, "INVALID_INPUT", /orgId: must be an organisation id/],
  ["unknown org", () => ({ ...valid(), orgId: "5b0c1e0e-8c1e-4b7e-9a59-3f0c4f3a0d11" }), "ORG_NOT_FOUND", /organisation .* not found/],
  ["unknown event", () => ({ ...valid(), eventId: 999_999 }), "EVENT_NOT_FOUND", /event 999999 not found in organisation/],
  ["event of another org", () => ({ ...valid(), eventId: other.event.id }), "EVENT_NOT_FOUND", /event \d+ not found in organisation/],
  ["user of another org", () => ({ ...valid(), userId: other.admin.id }), "USER_NOT_FOUND", /user .* not found in organisation/],
  ["empty photo list", () => ({ ...valid(), photoIds: [] }), "INVALID_INPUT", /photoIds: must name at least one photo/],
  ["duplicate photo ids", () => ({ ...valid(), photoIds: ["a", "b", "a"] }), "INVALID_INPUT", /photoIds: must not repeat a photo id \("a" appears twice\)/],
  ["non-string photo ids", () => ({ ...valid(), photoIds: ["a", 7] }), "INVALID_INPUT", /photoIds\.1: must be a string/],
  ["an empty photo id", () => ({ ...valid(), photoIds: ["a", ""] }), "INVALID_INPUT", /photoIds\.1: must not be empty/],
  ["a photo id over 200 characters", () => ({ ...valid(), photoIds: ["x".repeat(201)] }), "INVALID_INPUT", /photoIds\.0: must be at most 200 characters/],
  ["1,000,001 photos", () => ({ ...valid(), photoIds: photoIds(1_000_001) }), "INVALID_INPUT", /photoIds: must name at most 10,000 photos/],
  ["unknown kind", () => ({ ...valid(), kind: "FACE_SWAP" }), "INVALID_INPUT", /kind: must be PHOTO_PROCESSING or AI_IMAGE_ROTATION/],
  ["bad run id", () => ({ ...valid(), runId: "run:1" }), "INVALID_INPUT", /runId: must be 1 to 100 letters, digits, _ or -/],
  ["unknown field", () => ({ ...valid(), priority: 1 }), "INVALID_INPUT", /priority/],
];

async function ledgerState() {
  const { rows } = await db.pool.query(
    `SELECT (SELECT count(*) FROM credit_transaction) AS transactions, (SELECT count(*) FROM reservation) AS reservations,
            (SELECT count(*) FROM photo_charge) AS charges, (SELECT count(*) FROM usage_run) AS runs,
            (SELECT string_agg(balance_credits::text, ',' ORDER BY id) FROM organisation) AS balances`);
  return rows[0];
}

describe("bad payloads are rejected with their rule and charge nothing", () => {
  it.each(cases)("enqueue: %s", async (_name, payload, code, rule) => {
    const before = await ledgerState();
    const error = await producer.enqueue(payload()).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe(code);
    expect((error as AppError).message).toMatch(rule);
    expect(await ledgerState()).toEqual(before);
  });

  it.each(cases)("worker: %s fails at once as unrecoverable", async (name, payload, _code, rule) => {
    const before = await ledgerState();
    const job = await producer.queue.add("PHOTO_PROCESSING", payload() as never, { attempts: 5, jobId: `bad-${name.replace(/[^a-z0-9]/gi, "-")}` });
    const failed = await waitFor(async () => (await producer.queue.getJob(job.id!))!, (j) => j.failedReason !== undefined, { what: "job failed" });
    expect(failed.failedReason).toMatch(rule);
    expect(failed.attemptsMade).toBe(1);
    expect(await ledgerState()).toEqual(before);
  });
});
