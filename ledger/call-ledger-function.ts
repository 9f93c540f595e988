import type { Database } from "../prisma/database.js";
import { toLedgerError, type LedgerCallContext } from "./ledger-error.js";

/**
 * Runs one ledger function: one statement, one round trip, its own
 * transaction. Database errors come back as typed AppErrors.
 */
export async function callLedgerFunction<Row>(
  db: Database,
  text: string,
  values: unknown[],
  context: LedgerCallContext,
): Promise<Row[]> {
  try {
    const result = await db.pool.query(text, values);
    return result.rows as Row[];
  } catch (error) {
    throw toLedgerError(error, context);
  }
}

/** pg returns bigint columns as strings; credits and balances fit a double exactly. */
export function toCredits(value: string | number | bigint): number {
  const credits = Number(value);
  if (!Number.isSafeInteger(credits)) throw new RangeError(`credit amount ${String(value)} is not a safe integer`);
  return credits;
}
