import type { Database } from "../prisma/database.js";
import { BatchLane, byOrg, byOrgThenKey } from "../core/batch-lane.js";
import { parseInput } from "../core/validation.js";
import { callLedgerFunction } from "./call-ledger-function.js";
import {
  capturePhotoChargesInput, capturePreparedPhotoCharges, toPhotoCapture,
  type CapturePhotoChargesInput, type PhotoCapture, type PhotoCaptureRow, type PreparedPhotoCapture,
} from "./capture-photo-charges.js";
import {
  prepareReservation, reservePrepared, toReservation,
  type PreparedReservation, type Reservation, type ReservationRow, type ReserveCreditsInput,
} from "./reserve-credits.js";

/** The ledger's hot path for the metering workers: reservations and photo captures, batched. */
export class LedgerBatcher {
  private readonly reservations: BatchLane<PreparedReservation, Reservation>;
  private readonly captures: BatchLane<PreparedPhotoCapture, PhotoCapture>;

  constructor(
    db: Database,
    options: { maxBatchSize?: number; maxInFlight?: number; onRefused?: (error: unknown, size: number) => void } = {},
  ) {
    const laneOptions = { maxBatchSize: options.maxBatchSize ?? 100, maxInFlight: options.maxInFlight ?? 1, onRefused: options.onRefused };
    this.reservations = new BatchLane<PreparedReservation, Reservation>(
      // Arrival order within an org: credits that run short go to the runs that asked first.
      { ...laneOptions, order: byOrg },
      async (holds) => {
        const rows = await callLedgerFunction<ReservationRow & { request_index: number }>(
          db, "SELECT * FROM ledger_reserve_many($1::jsonb)", [JSON.stringify(holds)], { batch: holds.length });
        return byRequestIndex(rows, holds.length).map((row, index) => toReservation(holds[index]!, row));
      },
      (hold) => reservePrepared(db, hold),
    );
    this.captures = new BatchLane<PreparedPhotoCapture, PhotoCapture>(
      { ...laneOptions, order: byOrgThenKey },
      async (captures) => {
        const rows = await callLedgerFunction<PhotoCaptureRow & { request_index: number }>(
          db, "SELECT * FROM ledger_capture_photos_many($1::jsonb)", [JSON.stringify(captures)], { batch: captures.length });
        return byRequestIndex(rows, captures.length).map(toPhotoCapture);
      },
      (capture) => capturePreparedPhotoCharges(db, capture),
    );
  }

  stats() {
    return { reservations: { ...this.reservations.stats }, captures: { ...this.captures.stats } };
  }

  reserve(request: ReserveCreditsInput): Promise<Reservation> {
    return this.reservations.submit(prepareReservation(request));
  }

  capturePhotos(request: CapturePhotoChargesInput): Promise<PhotoCapture> {
    return this.captures.submit(parseInput(capturePhotoChargesInput, request, "photo capture"));
  }
}

function byRequestIndex<Row extends { request_index: number }>(rows: Row[], count: number): Row[] {
  const ordered = new Array<Row>(count);
  for (const row of rows) ordered[row.request_index] = row;
  return ordered;
}
