import { randomUUID } from "node:crypto";
import type { Database } from "../prisma/database.js";
import { createOrganisation } from "../organisations/create-organisation.js";
import { createEvent } from "../organisations/create-event.js";
import { createUser } from "../organisations/create-user.js";
import { grantCredits } from "../ledger/index.js";

export async function makeOrg(
  db: Database,
  overrides: Partial<{ name: string; currency: string; costPerCredit: string | null; timeZone: string; credits: number }> = {},
) {
  const org = await createOrganisation(db, {
    name: overrides.name ?? "Northlight Photo",
    currency: overrides.currency ?? "EUR",
    costPerCredit: overrides.costPerCredit === undefined ? "0.05" : overrides.costPerCredit,
    timeZone: overrides.timeZone ?? "Europe/Berlin",
  });
  const event = await createEvent(db, { orgId: org.id, name: "Harbour Marathon 2026" });
  const admin = await createUser(db, { orgId: org.id, email: `admin-${randomUUID()}@example.test`, name: "Ada Admin", role: "ADMIN" });
  if (overrides.credits) {
    await grantCredits(db, { orgId: org.id, type: "PURCHASE", credits: overrides.credits, idempotencyKey: `seed-${randomUUID()}` });
  }
  return { org, event, admin };
}

/**
 * Runs one UPDATE with triggers switched off for its transaction: the ledger
 * and invoices refuse UPDATE, so moving a row in time is a test fixture, never
 * product code.
 */
async function updateBypassingTriggers(db: Database, sql: string, values: unknown[]): Promise<void> {
  const client = await db.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SET LOCAL session_replication_role = replica");
    await client.query(sql, values);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  } finally {
    client.release();
  }
}

/** Moves a ledger row to another instant. */
export function backdateTransaction(db: Database, transactionId: string, at: Date): Promise<void> {
  return updateBypassingTriggers(db, "UPDATE credit_transaction SET created_at = $2 WHERE id = $1", [transactionId, at]);
}

/** The ledger's own books, read straight from the tables, for invariant checks. */
export async function readBooks(db: Database, orgId: string) {
  const { rows } = await db.pool.query<{
    balance: string; reserved: string; ledger_sum: string; held: string; lots_remaining: string; broken_lots: string; broken_usages: string;
  }>(
    `SELECT o.balance_credits AS balance, o.reserved_credits AS reserved,
       (SELECT COALESCE(sum(credits), 0) FROM credit_transaction WHERE org_id = o.id) AS ledger_sum,
       (SELECT COALESCE(sum(credits_reserved), 0) FROM reservation WHERE org_id = o.id AND status = 'HELD') AS held,
       (SELECT COALESCE(sum(remaining_credits), 0) FROM credit_lot WHERE org_id = o.id) AS lots_remaining,
       (SELECT count(*) FROM credit_lot l WHERE l.org_id = o.id AND l.remaining_credits <>
          l.credits + (SELECT COALESCE(sum(m.credits), 0) FROM lot_movement m WHERE m.lot_id = l.id)) AS broken_lots,
       (SELECT count(*) FROM credit_transaction t WHERE t.org_id = o.id AND t.type IN ('USAGE', 'REFUND') AND t.credits <>
          (SELECT COALESCE(sum(m.credits), 0) FROM lot_movement m WHERE m.transaction_id = t.id)) AS broken_usages
     FROM organisation o WHERE o.id = $1`,
    [orgId],
  );
  const row = rows[0]!;
  return {
    balance: Number(row.balance),
    reserved: Number(row.reserved),
    ledgerSum: Number(row.ledger_sum),
    heldReservations: Number(row.held),
    lotsRemaining: Number(row.lots_remaining),
    lotsNotMatchingMovements: Number(row.broken_lots),
    transactionsNotMatchingMovements: Number(row.broken_usages),
  };
}

/** Moves an invoice's issue date. */
export function backdateInvoice(db: Database, number: string, at: Date): Promise<void> {
  return updateBypassingTriggers(db, "UPDATE invoice SET issued_at = $2 WHERE number = $1", [number, at]);
}
