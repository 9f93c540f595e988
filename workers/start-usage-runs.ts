import { BatchLane, byOrg } from "../core/batch-lane.js";
import { callLedgerFunction } from "../ledger/call-ledger-function.js";
import type { Reservation } from "../ledger/reserve-credits.js";
import type { Database } from "../prisma/database.js";
import { explainMissingEvent } from "./enqueue-usage-run.js";
import { usageRunFingerprint } from "./metering-queues.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

export interface StartedRun {
  status: "QUEUED" | "RUNNING" | "PARKED" | "COMPLETED" | "FAILED";
  fingerprintMatches: boolean;
  chargedPhotoIds: string[];
  failedPhotoIds: string[];
  /** The org is paused, or older runs of it are parked: this one waits its turn. */
  mustPark: boolean;
  /** Holds an earlier execution of this run left behind. */
  staleHoldKeys: string[];
  /**
   * The hold taken for the first segment under `firstHold.key`; null when the
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

interface StartRequest extends UsageRunPayload {
  key: string;
  fingerprint: string;
  holdKey: string;
  creditsPerPhoto: number;
  segmentPhotos: number;
  ttlMs: number;
}

interface StartRow {
  request_index: number; status: StartedRun["status"]; fingerprint_matches: boolean; charged_photo_ids: string[];
  failed_photo_ids: string[]; must_park: boolean; stale_hold_keys: string[];
  reservation_id: string | null; credits_requested: number | null; credits_reserved: number | null; expires_at: Date | null;
}

/**
 * Marks runs RUNNING, reads what each needs to continue, and holds credits
 * for each one's first segment: many runs per statement.
 */
export class UsageRunStarter {
  private readonly lane: BatchLane<StartRequest, StartedRun>;

  constructor(db: Database, options: { maxBatchSize?: number; onRefused?: (error: unknown, size: number) => void } = {}) {
    const call = async (runs: StartRequest[]) => {
      const rows = await callLedgerFunction<StartRow>(db, "SELECT * FROM metering_begin_runs($1::jsonb)", [JSON.stringify(runs)], {
        orgId: runs[0]?.orgId, eventId: runs[0]?.eventId, userId: runs[0]?.userId, runId: runs[0]?.runId,
      });
      const ordered = new Array<StartedRun>(runs.length);
      for (const row of rows) ordered[row.request_index] = toStartedRun(row);
      return ordered;
    };
    const startOne = async (run: StartRequest) => {
      try {
        return (await call([run]))[0]!;
      } catch (error) {
        throw await explainMissingEvent(db, error, run.orgId);
      }
    };
    this.lane = new BatchLane<StartRequest, StartedRun>(
      // The statement locks orgs first and writes runs in key order, so arrival order is safe here.
      { maxBatchSize: options.maxBatchSize ?? 100, maxInFlight: 1, order: byOrg, onRefused: options.onRefused },
      call,
      startOne,
    );
  }

  start(run: UsageRunPayload, firstHold: FirstHold): Promise<StartedRun> {
    return this.lane.submit({
      ...run, key: `${run.runId}.${run.kind}`, fingerprint: usageRunFingerprint(run),
      holdKey: firstHold.key, creditsPerPhoto: firstHold.creditsPerPhoto, segmentPhotos: firstHold.segmentPhotos, ttlMs: firstHold.ttlMs,
    });
  }
}

function toStartedRun(row: StartRow): StartedRun {
  return {
    status: row.status,
    fingerprintMatches: row.fingerprint_matches,
    chargedPhotoIds: row.charged_photo_ids,
    failedPhotoIds: row.failed_photo_ids,
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
