import type { Database } from "../prisma/database.js";
import { callLedgerFunction } from "./call-ledger-function.js";

export interface ExpiredReservation {
  orgId: string;
  key: string;
  creditsReleased: number;
}

/**
 * The sweeper: gives back the credits of holds whose expiry has passed (their
 * worker died or forgot them), at most `limit` per call. Holds locked by a
 * capture in flight are skipped, not waited for.
 */
export async function expireReservations(db: Database, options: { limit?: number } = {}): Promise<ExpiredReservation[]> {
  const rows = await callLedgerFunction<{ org_id: string; key: string; credits_released: number }>(
    db,
    "SELECT * FROM ledger_expire_reservations($1)",
    [options.limit ?? 500],
    {},
  );
  return rows.map((row) => ({ orgId: row.org_id, key: row.key, creditsReleased: row.credits_released }));
}
