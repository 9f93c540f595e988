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
  const org = await db.prisma.organisation.findUnique({
    where: { id },
    select: { balanceCredits: true, reservedCredits: true, processingState: true },
  });
  if (!org) throw new AppError("ORG_NOT_FOUND", `organisation ${id} not found`, { details: { orgId: id } });
  const balanceCredits = toCredits(org.balanceCredits);
  const reservedCredits = toCredits(org.reservedCredits);
  return { balanceCredits, reservedCredits, availableCredits: balanceCredits - reservedCredits, processingState: org.processingState };
}
