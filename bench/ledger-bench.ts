import type { Database } from "../prisma/database.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import { createEvent } from "../organisations/create-event.js";
import { captureReservation, grantCredits, reserveCredits } from "../ledger/index.js";
import { figure, type BenchFigure } from "./bench-figure.js";
import { measureThroughput } from "./measure-throughput.js";

const callers = 32;

/**
 * Reservations and captures on one org from 32 concurrent callers, beside the
 * raw limit of the same pool: a single-statement conditional UPDATE of one row.
 */
export async function runLedgerBench(db: Database, options: { durationMs: number; log: (line: string) => void }): Promise<BenchFigure[]> {
  await db.pool.query("CREATE TABLE IF NOT EXISTS bench_hot_row (id int PRIMARY KEY, credits bigint NOT NULL CHECK (credits >= 0))");
  await db.pool.query("INSERT INTO bench_hot_row VALUES (1, 1000000000000) ON CONFLICT (id) DO UPDATE SET credits = EXCLUDED.credits");
  const baseline = await measureThroughput(callers, options.durationMs, () =>
    db.pool.query("UPDATE bench_hot_row SET credits = credits - 1 WHERE id = 1 AND credits >= 1"));
  options.log(`raw conditional UPDATE of one row: ${baseline.operationsPerSecond.toFixed(0)}/s (p99 ${baseline.p99Ms.toFixed(1)} ms)`);

  const org = await createOrganisation(db, { name: "Bench Org", currency: "EUR", costPerCredit: "0.05", timeZone: "Europe/Berlin" });
  const event = await createEvent(db, { orgId: org.id, name: "Bench Event" });
  await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: 100_000_000, idempotencyKey: "bench" });
  const ledger = await measureThroughput(callers, options.durationMs, async (caller, iteration) => {
    const key = `c${caller}-i${iteration}`;
    await reserveCredits(db, { orgId: org.id, key, credits: 10, usageType: "PHOTO_PROCESSING", eventId: event.id, ttlMs: 600_000 });
    await captureReservation(db, { orgId: org.id, key, creditsUsed: 9 });
  });
  const ledgerOperations = ledger.operationsPerSecond * 2;
  options.log(`ledger reserve+capture pairs: ${ledger.operationsPerSecond.toFixed(0)}/s (p99 ${ledger.p99Ms.toFixed(1)} ms per pair)`);

  return [
    figure("ledger: reserve and capture operations, 1 org, 32 callers", ledgerOperations, "operations/s",
      "conditional UPDATE of one row, 32 callers", baseline.operationsPerSecond),
    figure("ledger: reserve+capture pairs (one charged usage each), 1 org, 32 callers", ledger.operationsPerSecond, "pairs/s",
      "conditional UPDATE of one row, 32 callers", baseline.operationsPerSecond),
  ];
}
