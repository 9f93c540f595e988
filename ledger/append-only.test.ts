import { afterAll, beforeAll, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg } from "../test/factories.js";
import { captureReservation, reserveCredits } from "./index.js";

let db: TestDatabase;
beforeAll(async () => { db = await createTestDatabase(); });
afterAll(async () => { await db.drop(); });

it("the database refuses UPDATE, DELETE and TRUNCATE of ledger rows and lot movements", async () => {
  const { org, event } = await makeOrg(db, { credits: 100 });
  await reserveCredits(db, { orgId: org.id, key: "k", credits: 5, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 60_000 });
  await captureReservation(db, { orgId: org.id, key: "k", creditsUsed: 5 });

  for (const statement of [
    "UPDATE credit_transaction SET credits = credits * 2",
    "UPDATE credit_transaction SET created_at = now() - interval '1 year'",
    "DELETE FROM credit_transaction",
    "TRUNCATE credit_transaction CASCADE",
    "UPDATE lot_movement SET credits = 1",
    "DELETE FROM lot_movement",
    "TRUNCATE lot_movement",
  ]) {
    await expect(db.pool.query(statement), statement).rejects.toMatchObject({ code: "CR100", message: expect.stringMatching(/append-only/) });
  }
  const { rows } = await db.pool.query("SELECT type, credits FROM credit_transaction WHERE org_id = $1 ORDER BY id", [org.id]);
  expect(rows).toEqual([{ type: "PURCHASE", credits: 100 }, { type: "USAGE", credits: -5 }]);
});

it("the database keeps usage runs, whose sequence numbers key the photo fence", async () => {
  const { org, event } = await makeOrg(db, { credits: 10 });
  await db.pool.query(
    `INSERT INTO usage_run (org_id, run_id, usage_type, event_id, photo_ids, request_fingerprint) VALUES ($1, 'kept', 'PHOTO_PROCESSING', $2, '{p1}', 'f')`,
    [org.id, event.id]);
  for (const statement of ["DELETE FROM usage_run", "TRUNCATE usage_run CASCADE"]) {
    await expect(db.pool.query(statement), statement).rejects.toMatchObject({ code: "CR100", message: expect.stringMatching(/usage runs are kept/) });
  }
  const { rows } = await db.pool.query("SELECT run_id FROM usage_run WHERE org_id = $1", [org.id]);
  expect(rows).toEqual([{ run_id: "kept" }]);
});

it("the database refuses a negative balance or a hold above the balance, whoever writes", async () => {
  const { org } = await makeOrg(db, { credits: 10 });
  await expect(db.pool.query("UPDATE organisation SET balance_credits = -1 WHERE id = $1", [org.id])).rejects.toMatchObject({ code: "23514" });
  await expect(db.pool.query("UPDATE organisation SET reserved_credits = 11 WHERE id = $1", [org.id])).rejects.toMatchObject({ code: "23514" });
});
