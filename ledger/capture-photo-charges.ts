import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { callLedgerFunction, toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

export const capturePhotoChargesInput = z.strictObject({
  orgId: input.orgId,
  /** The reservation the photos were processed under. */
  key: input.idempotencyKey,
  runId: input.idempotencyKey,
  photoIds: input.photoIdList({ atLeastOne: false }),
  creditsPerPhoto: z.number().int().positive(),
  /** Photos of this segment that failed to process: recorded on the run, not charged. */
  failedPhotoIds: z.array(z.string().min(1).max(200)).max(10_000).default([]),
  /** This was the run's last segment: the run is marked completed with its charges. */
  runDone: z.boolean().default(false),
});
export type CapturePhotoChargesInput = z.input<typeof capturePhotoChargesInput>;

export interface PhotoCapture {
  /** The Usage transaction; null when no photo was newly charged. */
  transactionId: string | null;
  /** Photos charged now; photos this run had already charged are not counted again. */
  photosCharged: number;
  creditsCaptured: number;
  creditsReleased: number;
  balanceAfter: number;
  replayed: boolean;
}

export interface PhotoCaptureRow {
  transaction_id: string | null; photos_charged: number; credits_captured: number; credits_released: number;
  balance_after: string; replayed: boolean;
}

export function toPhotoCapture(row: PhotoCaptureRow): PhotoCapture {
  return {
    transactionId: row.transaction_id,
    photosCharged: row.photos_charged,
    creditsCaptured: row.credits_captured,
    creditsReleased: row.credits_released,
    balanceAfter: toCredits(row.balance_after),
    replayed: row.replayed,
  };
}

/**
 * Charges processed photos of a run against the reservation they were
 * processed under, one charge record per photo (unique per run, usage type
 * and photo), one Usage transaction for the lot; the rest of the hold is
 * released.
 */
export async function capturePhotoCharges(db: Database, request: CapturePhotoChargesInput): Promise<PhotoCapture> {
  return capturePreparedPhotoCharges(db, parseInput(capturePhotoChargesInput, request, "photo capture"));
}

export type PreparedPhotoCapture = z.output<typeof capturePhotoChargesInput>;

export async function capturePreparedPhotoCharges(db: Database, capture: PreparedPhotoCapture): Promise<PhotoCapture> {
  const [row] = await callLedgerFunction<PhotoCaptureRow>(
    db,
    "SELECT * FROM ledger_capture_photos($1, $2, $3, $4::text[], $5, $6::text[], $7)",
    [capture.orgId, capture.key, capture.runId, capture.photoIds, capture.creditsPerPhoto, capture.failedPhotoIds, capture.runDone],
    { orgId: capture.orgId, key: capture.key, runId: capture.runId },
  );
  return toPhotoCapture(row!);
}
