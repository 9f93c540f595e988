import type { Reservation } from "../ledger/reserve-credits.js";
import { usageRunFingerprint } from "./metering-queues.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

export interface StartedRun {
  /** UNRECORDED: the run has no row (it was enqueued around the producer); start it again with its photos. */
  status: "QUEUED" | "RUNNING" | "PARKED" | "COMPLETED" | "FAILED" | "UNRECORDED";
  fingerprintMatches: boolean;
  chargedPhotoIds: string[];
  failedPhotoIds: string[];
  /** The org is paused, or older runs of it are parked: this one waits its turn. */
  mustPark: boolean;
  /** Holds an earlier execution of this run left behind. */
  staleHoldKeys: string[];
  /**
   * The hold taken for the first segment under `FirstHold.key`; null when the
   * run got none (finished, conflicting, waiting, stale holds, nothing left).
   */
  firstHold: Reservation | null;
}

/** What the first segment's hold is taken for: the photos the worker will process first. */
export interface FirstHold {
  key: string;
  creditsPerPhoto: number;
  segmentPhotos: number;
  ttlMs: number;
}

/**
 * One run as `metering_record_run_starts` reads it: its photo count and
 * fingerprint, and its photo list only to record a run that has no row.
 */
export interface StartRequest extends Omit<UsageRunPayload, "photoIds"> {
  photoIds?: string[];
  photoCount: number;
  fingerprint: string;
  holdKey: string;
  creditsPerPhoto: number;
  segmentPhotos: number;
  ttlMs: number;
}

export interface StartRow {
  request_index: number; status: Exclude<StartedRun["status"], "UNRECORDED"> | null; fingerprint_matches: boolean | null; charged_photo_ids: string[];
  failed_photo_ids: string[] | null; must_park: boolean; stale_hold_keys: string[];
  reservation_id: string | null; credits_requested: number | null; credits_reserved: number | null; expires_at: Date | null;
}

export function startRequest(run: UsageRunPayload, firstHold: FirstHold, options: { recordRun: boolean }): StartRequest {
  const { photoIds, ...rest } = run;
  return {
    ...rest, ...(options.recordRun ? { photoIds } : {}), photoCount: photoIds.length, fingerprint: usageRunFingerprint(run),
    holdKey: firstHold.key, creditsPerPhoto: firstHold.creditsPerPhoto, segmentPhotos: firstHold.segmentPhotos, ttlMs: firstHold.ttlMs,
  };
}

export function toStartedRun(row: StartRow): StartedRun {
  return {
    status: row.status ?? "UNRECORDED",
    fingerprintMatches: row.fingerprint_matches ?? false,
    chargedPhotoIds: row.charged_photo_ids,
    failedPhotoIds: row.failed_photo_ids ?? [],
    mustPark: row.must_park,
    staleHoldKeys: row.stale_hold_keys,
    firstHold: row.reservation_id === null ? null : {
      reservationId: row.reservation_id,
      creditsRequested: row.credits_requested!,
      creditsReserved: row.credits_reserved!,
      status: "HELD",
      expiresAt: row.expires_at!,
      replayed: false,
    },
  };
}
