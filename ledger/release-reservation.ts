import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";
import type { Reservation } from "./reserve-credits.js";

export const releaseReservationInput = z.strictObject({ orgId: input.orgId, key: input.idempotencyKey });
export type ReleaseReservationInput = z.input<typeof releaseReservationInput>;

/** Gives a held reservation's credits back. A settled reservation is left as it is. */
export async function releaseReservation(
  db: Database,
  request: ReleaseReservationInput,
): Promise<{ status: Reservation["status"]; creditsReleased: number }> {
  const release = parseInput(releaseReservationInput, request, "release");
  const [row] = await callLedgerFunction<{ status: Reservation["status"]; credits_released: number }>(
    db,
    "SELECT * FROM ledger_release($1, $2)",
    [release.orgId, release.key],
    { orgId: release.orgId, key: release.key },
  );
  return { status: row!.status, creditsReleased: row!.credits_released };
}
