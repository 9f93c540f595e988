import { AppError } from "../core/errors.js";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export interface Balance {
  balanceCredits: number;
  reservedCredits: number;
  /** What new work can reserve: balance - reserved. */
  availableCredits: number;
  processingState: "ACTIVE" | "PAUSED";
}

export async function getBalance(db: Database, orgId: string): Promise<Balance> {
  const id = parseInput(input.orgId, orgId, "organisation id");
  // Plain SQL: the API's busiest read.
  const { rows } = await db.pool.query<{ balance_credits: string; reserved_credits: string; processing_state: Balance["processingState"] }>(
    "SELECT balance_credits, reserved_credits, processing_state FROM organisation WHERE id = $1",
    [id],
  );
  const org = rows[0];
  if (!org) throw new AppError("ORG_NOT_FOUND", `organisation ${id} not found`, { details: { orgId: id } });
  const balanceCredits = toCredits(org.balance_credits);
  const reservedCredits = toCredits(org.reserved_credits);
  return { balanceCredits, reservedCredits, availableCredits: balanceCredits - reservedCredits, processingState: org.processing_state };
}
