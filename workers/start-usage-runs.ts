import { BatchLane, byOrgThenKey } from "../core/batch-lane.js";
import { callLedgerFunction } from "../ledger/call-ledger-function.js";
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
}

interface StartRequest extends UsageRunPayload {
  key: string;
  fingerprint: string;
}

interface StartRow {
  request_index: number; status: StartedRun["status"]; fingerprint_matches: boolean; charged_photo_ids: string[];
  failed_photo_ids: string[]; must_park: boolean; stale_hold_keys: string[];
}

/** Marks runs RUNNING and reads what each needs to continue, many runs per statement. */
export class UsageRunStarter {
  private readonly lane: BatchLane<StartRequest, StartedRun>;

  constructor(db: Database, options: { maxBatchSize?: number; onRefused?: (error: unknown, size: number) => void } = {}) {
    const call = async (runs: StartRequest[]) => {
      const rows = await callLedgerFunction<StartRow>(db, "SELECT * FROM metering_start_runs($1::jsonb)", [JSON.stringify(runs)], {
        orgId: runs[0]?.orgId, eventId: runs[0]?.eventId, userId: runs[0]?.userId, runId: runs[0]?.runId,
      });
      const ordered = new Array<StartedRun>(runs.length);
      for (const row of rows) {
        ordered[row.request_index] = {
          status: row.status,
          fingerprintMatches: row.fingerprint_matches,
          chargedPhotoIds: row.charged_photo_ids,
          failedPhotoIds: row.failed_photo_ids,
          mustPark: row.must_park,
          staleHoldKeys: row.stale_hold_keys,
        };
      }
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
      { maxBatchSize: options.maxBatchSize ?? 100, maxInFlight: 1, order: byOrgThenKey, onRefused: options.onRefused },
      call,
      startOne,
    );
  }

  start(run: UsageRunPayload): Promise<StartedRun> {
    return this.lane.submit({ ...run, key: `${run.runId}.${run.kind}`, fingerprint: usageRunFingerprint(run) });
  }
}
