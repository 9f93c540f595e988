import { BatchLane, byOrgThenKey } from "../core/batch-lane.js";
import { parseInput } from "../core/validation.js";
import { callLedgerFunction } from "../ledger/call-ledger-function.js";
import {
  capturePhotoChargesInput, capturePreparedPhotoCharges, toPhotoCapture,
  type CapturePhotoChargesInput, type PhotoCapture, type PhotoCaptureRow, type PreparedPhotoCapture,
} from "../ledger/capture-photo-charges.js";
import type { LedgerBatcher } from "../ledger/ledger-batcher.js";
import type { Reservation, ReserveCreditsInput } from "../ledger/reserve-credits.js";
import type { Database } from "../prisma/database.js";
import { explainMissingEvent } from "./enqueue-usage-run.js";
import { startRequest, toStartedRun, type FirstHold, type StartedRun, type StartRequest, type StartRow } from "./start-usage-runs.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

type Call =
  | { part: "capture"; orgId: string; key: string; capture: PreparedPhotoCapture }
  | { part: "begin"; orgId: string; key: string; run: StartRequest };

type Row = { part: Call["part"] } & PhotoCaptureRow & StartRow;

/**
 * The ledger as the metering workers use it. What concurrent jobs ask at the
 * same moment (charge a processed segment, start a run with its first hold)
 * goes as one statement, `metering_settle_and_begin`: one transaction per
 * batch, not one per kind of call. A batch the database refuses is sent one
 * call at a time, so each job gets its own answer or its own error.
 */
export class MeteringLedger {
  private readonly lane: BatchLane<Call, PhotoCapture | StartedRun>;

  constructor(
    db: Database,
    private readonly ledger: LedgerBatcher,
    options: { maxBatchSize?: number; maxInFlight?: number; onRefused?: (error: unknown, size: number) => void } = {},
  ) {
    const settleAndBegin = async (calls: Call[]) => {
      const captures: PreparedPhotoCapture[] = [];
      const runs: StartRequest[] = [];
      const positions = { capture: [] as number[], begin: [] as number[] };
      calls.forEach((call, position) => {
        if (call.part === "capture") captures.push(call.capture);
        else runs.push(call.run);
        positions[call.part].push(position);
      });
      const first = calls[0]!;
      const rows = await callLedgerFunction<Row>(
        db, "SELECT * FROM metering_settle_and_begin($1::jsonb, $2::jsonb)", [JSON.stringify(captures), JSON.stringify(runs)],
        first.part === "begin"
          ? { orgId: first.orgId, eventId: first.run.eventId, userId: first.run.userId, runId: first.run.runId, batch: calls.length }
          : { orgId: first.orgId, key: first.key, runId: first.capture.runId, batch: calls.length },
      );
      const results = new Array<PhotoCapture | StartedRun>(calls.length);
      for (const row of rows) {
        results[positions[row.part][row.request_index]!] = row.part === "capture" ? toPhotoCapture(row) : toStartedRun(row);
      }
      return results;
    };
    const one = async (call: Call): Promise<PhotoCapture | StartedRun> => {
      if (call.part === "capture") return capturePreparedPhotoCharges(db, call.capture);
      try {
        return (await settleAndBegin([call]))[0]!;
      } catch (error) {
        throw await explainMissingEvent(db, error, call.orgId);
      }
    };
    this.lane = new BatchLane<Call, PhotoCapture | StartedRun>(
      { maxBatchSize: options.maxBatchSize ?? 100, maxInFlight: options.maxInFlight ?? 2, order: byOrgThenKey, onRefused: options.onRefused },
      settleAndBegin,
      one,
    );
  }

  stats() {
    return { ...this.lane.stats };
  }

  /**
   * Marks the run RUNNING, reads what it needs to continue, and holds credits
   * for its first segment. `recordRun` sends the photo list too, to record a
   * run that has no row yet (see StartedRun's UNRECORDED).
   */
  begin(run: UsageRunPayload, firstHold: FirstHold, options: { recordRun: boolean } = { recordRun: false }): Promise<StartedRun> {
    const request = startRequest(run, firstHold, options);
    return this.lane.submit({ part: "begin", orgId: run.orgId, key: `${run.runId}.${run.kind}`, run: request }) as Promise<StartedRun>;
  }

  /** Charges a processed segment's photos against its hold (see capturePhotoCharges). */
  capturePhotos(request: CapturePhotoChargesInput): Promise<PhotoCapture> {
    const capture = parseInput(capturePhotoChargesInput, request, "photo capture");
    return this.lane.submit({ part: "capture", orgId: capture.orgId, key: capture.key, capture }) as Promise<PhotoCapture>;
  }

  /** Holds credits for a later segment, or for a run that had stale holds to give back first. */
  reserve(request: ReserveCreditsInput): Promise<Reservation> {
    return this.ledger.reserve(request);
  }
}
