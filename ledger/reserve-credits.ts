import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const reserveCreditsInput = z.strictObject({
  orgId: input.orgId,
  /** Chosen by the caller and reused on retry: the same key never reserves twice. */
  key: input.idempotencyKey,
  credits: input.positiveCredits,
  usageType: input.usageType,
  eventId: input.eventId,
  userId: input.userId,
  reference: input.reference,
  ttlMs: z.number().int().min(1_000, { error: "must be at least 1000 ms" }).max(86_400_000, { error: "must be at most 24 h" }),
});
export type ReserveCreditsInput = z.input<typeof reserveCreditsInput>;

export interface Reservation {
  reservationId: string;
  creditsRequested: number;
  /** All, part, or none (0) of the request: never more than is available. */
  creditsReserved: number;
  status: "HELD" | "CAPTURED" | "RELEASED" | "EXPIRED";
  expiresAt: Date;
  replayed: boolean;
}

/**
 * Holds up to `credits` of the org's available credits (balance - reserved)
 * for one usage. The hold carries what the Usage transaction will say (usage
 * type, event, user, reference), so capturing it needs only the amount used.
 */
export async function reserveCredits(db: Database, request: ReserveCreditsInput): Promise<Reservation> {
  return reservePrepared(db, prepareReservation(request));
}

export async function reservePrepared(db: Database, hold: PreparedReservation): Promise<Reservation> {
  const [row] = await callLedgerFunction<ReservationRow>(
    db,
    "SELECT * FROM ledger_reserve($1, $2, $3, $4, $5::usage_type, $6, $7, $8, $9)",
    [hold.orgId, hold.key, hold.fingerprint, hold.credits, hold.usageType, hold.eventId, hold.userId, hold.reference, hold.ttlMs],
    reservationContext(hold),
  );
  return toReservation(hold, row!);
}

export type PreparedReservation = z.output<typeof reserveCreditsInput> & { fingerprint: string };

export interface ReservationRow {
  reservation_id: string; credits_reserved: number; status: Reservation["status"]; expires_at: Date; replayed: boolean;
}

/** Validates a request and computes what a replay of it must match. */
export function prepareReservation(request: ReserveCreditsInput): PreparedReservation {
  const hold = parseInput(reserveCreditsInput, request, "reservation");
  return { ...hold, fingerprint: input.fingerprint("reserve", hold.credits, hold.usageType, hold.eventId, hold.userId, hold.reference) };
}

export function reservationContext(hold: PreparedReservation) {
  return { orgId: hold.orgId, key: hold.key, eventId: hold.eventId, userId: hold.userId };
}

export function toReservation(hold: PreparedReservation, row: ReservationRow): Reservation {
  return {
    reservationId: row.reservation_id,
    creditsRequested: hold.credits,
    creditsReserved: row.credits_reserved,
    status: row.status,
    expiresAt: row.expires_at,
    replayed: row.replayed,
  };
}
