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

describe("monthly summary from the hourly totals", () => {
  it("is exact for a zone whose offset is not whole hours (Kolkata, +05:30): the part-hours come from the ledger", async () => {
    const { org, event } = await makeOrg(db, { timeZone: "Asia/Kolkata", credits: 1000 });
    // March starts at 2026-02-28T18:30Z in Kolkata and ends at 2026-03-31T18:30Z.
    await useAt(org.id, event.id, "feb-last-half-hour", 2, new Date("2026-02-28T18:10:00Z"));
    await useAt(org.id, event.id, "mar-first-half-hour", 3, new Date("2026-02-28T18:40:00Z"));
    await useAt(org.id, event.id, "mar-middle", 5, new Date("2026-03-15T09:00:00Z"));
    await useAt(org.id, event.id, "mar-last-half-hour", 7, new Date("2026-03-31T18:20:00Z"));
    await useAt(org.id, event.id, "apr-first-half-hour", 11, new Date("2026-03-31T18:50:00Z"));
    const months = await monthlySummary(db, { orgId: org.id, asOf: new Date("2026-04-10T00:00:00Z"), months: 3 });
    expect(months.map((m) => [m.month, m.creditsUsed, m.usageTransactionCount])).toEqual([
      ["2026-04", 11, 1], ["2026-03", 15, 3], ["2026-02", 2, 1],
    ]);
  });

  it("agrees with a sum over the ledger itself, in several zones, after rows were moved in time", async () => {
    const { org, event } = await makeOrg(db, { credits: 5000 });
    const start = Date.parse("2026-01-01T00:00:00Z");
    for (let i = 0; i < 40; i += 1) {
      // Spread over four months at odd minutes, some moved again afterwards.
      const at = new Date(start + ((i * 7_919_993_000) % (120 * 86_400_000)));
      const id = await useAt(org.id, event.id, `spread-${i}`, 1 + (i % 9), at);
      if (i % 5 === 0) await backdateTransaction(db, id, new Date(at.getTime() - 3 * 3_600_000 - 17 * 60_000));
    }
    for (const timeZone of ["UTC", "Asia/Kathmandu", "America/St_Johns", "Pacific/Auckland"]) {
      await db.pool.query("UPDATE organisation SET time_zone = $2 WHERE id = $1", [org.id, timeZone]);
      const months = await monthlySummary(db, { orgId: org.id, asOf: new Date("2026-04-20T00:00:00Z"), months: 5 });
      for (const month of months) {
        const { rows } = await db.pool.query<{ used: string; added: string; usages: string }>(
          `SELECT COALESCE(-sum(credits) FILTER (WHERE type = 'USAGE'), 0) AS used,
                  COALESCE(sum(credits) FILTER (WHERE credits > 0), 0) AS added,
                  count(*) FILTER (WHERE type = 'USAGE') AS usages
           FROM credit_transaction WHERE org_id = $1 AND created_at >= $2 AND created_at < $3`,
          [org.id, month.startsAt, month.endsAt],
        );
        expect([timeZone, month.month, month.creditsUsed, month.creditsAdded, month.usageTransactionCount])
          .toEqual([timeZone, month.month, Number(rows[0]!.used), Number(rows[0]!.added), Number(rows[0]!.usages)]);
        // The balance a statement opens with, from the same totals.
        const balance = await db.pool.query<{ at: string; raw: string }>(
          `SELECT ledger_balance_at($1, $2) AS at,
                  (SELECT COALESCE(sum(credits), 0) FROM credit_transaction WHERE org_id = $1 AND created_at < $2) AS raw`,
          [org.id, month.startsAt]);
        expect(balance.rows[0]!.at).toBe(balance.rows[0]!.raw);
      }
    }
  });

  it("does not read the ledger's rows for a whole-hour zone, however many there are", async () => {
    const { org, event } = await makeOrg(db, { timeZone: "Europe/Berlin" });
    await db.pool.query(
      `INSERT INTO credit_transaction (org_id, type, usage_type, credits, event_id, balance_after, idempotency_key, request_fingerprint, created_at)
       SELECT $1, 'USAGE', 'PHOTO_PROCESSING', -1, $2, 0, 'bulk-' || n, 'bulk', timestamptz '2026-03-01T00:00:00Z' + n * interval '1 minute'
       FROM generate_series(1, 20000) AS n`,
      [org.id, event.id],
    );
    const [march] = await monthlySummary(db, { orgId: org.id, asOf: new Date("2026-03-20T00:00:00Z"), months: 1 });
    expect(march!.usageTransactionCount).toBe(
      Number((await db.pool.query("SELECT count(*) FROM credit_transaction WHERE org_id = $1 AND created_at >= $2 AND created_at < $3", [org.id, march!.startsAt, march!.endsAt])).rows[0].count),
    );
    const rowsRead = await ledgerRowsRead(db, org.id);
    expect(rowsRead).toBe(0);
  });
});

/** Rows the summary's plan took from credit_transaction, from EXPLAIN ANALYZE. */
async function ledgerRowsRead(database: TestDatabase, orgId: string): Promise<number> {
  const client = await database.pool.connect();
  try {
    let captured = "";
    // The summary's own SQL, run under EXPLAIN: wrap the pool's query once.
    const query = client.query.bind(client) as (text: string, values: unknown[]) => Promise<unknown>;
    const fake = { pool: { query: async (text: string, values: unknown[]) => { captured = text; return query(text, values); } } };
    await monthlySummary(fake as unknown as TestDatabase, { orgId, asOf: new Date("2026-03-20T00:00:00Z"), months: 1 });
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${captured}`, [orgId, new Date("2026-03-20T00:00:00Z"), 1]);
    let read = 0;
    const visit = (node: Record<string, unknown>) => {
      if (node["Relation Name"] === "credit_transaction") read += Number(node["Actual Rows"]) * Number(node["Actual Loops"]);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) visit(child);
    };
    visit((rows[0]["QUERY PLAN"] as { Plan: Record<string, unknown> }[])[0]!.Plan);
    return read;
  } finally {
    client.release();
  }
}

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
