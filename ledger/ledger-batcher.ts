import type { Database } from "../prisma/database.js";
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

interface Pending<Request, Result> {
  request: Request;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

/**
 * Sends what concurrent callers ask of one kind at the same moment as one
 * statement: whatever queued while the previous batch was in flight, up to
 * `maxBatchSize`. Under light load a request goes alone, at once.
 */
class BatchLane<Request extends { orgId: string; key: string }, Result> {
  private readonly queue: Pending<Request, Result>[] = [];
  private inFlight = 0;

  constructor(
    private readonly options: { maxBatchSize: number; maxInFlight: number },
    private readonly runBatch: (requests: Request[]) => Promise<Result[]>,
    private readonly runOne: (request: Request) => Promise<Result>,
  ) {}

  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatchSize);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  private async flush(batch: Pending<Request, Result>[]): Promise<void> {
    if (batch.length === 1) {
      const [only] = batch as [Pending<Request, Result>];
      await this.runOne(only.request).then(only.resolve, only.reject);
      return;
    }
    // One lock order for every batch (org, then key) so concurrent batches cannot deadlock.
    batch.sort((a, b) => compare(a.request.orgId, b.request.orgId) || compare(a.request.key, b.request.key));
    try {
      const results = await this.runBatch(batch.map((pending) => pending.request));
      batch.forEach((pending, index) => pending.resolve(results[index]!));
    } catch {
      // One bad request fails the whole statement; run each alone so that
      // every caller gets its own result or its own error.
      await Promise.all(batch.map((pending) => this.runOne(pending.request).then(pending.resolve, pending.reject)));
    }
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The ledger's hot path for the metering workers: reservations and photo captures, batched. */
export class LedgerBatcher {
  private readonly reservations: BatchLane<PreparedReservation, Reservation>;
  private readonly captures: BatchLane<PreparedPhotoCapture, PhotoCapture>;

  constructor(db: Database, options: { maxBatchSize?: number; maxInFlight?: number } = {}) {
    const laneOptions = { maxBatchSize: options.maxBatchSize ?? 100, maxInFlight: options.maxInFlight ?? 2 };
    this.reservations = new BatchLane(
      laneOptions,
      async (holds) => {
        const rows = await callLedgerFunction<ReservationRow & { request_index: number }>(
          db, "SELECT * FROM ledger_reserve_many($1::jsonb)", [JSON.stringify(holds)], { batch: holds.length });
        return byRequestIndex(rows, holds.length).map((row, index) => toReservation(holds[index]!, row));
      },
      (hold) => reservePrepared(db, hold),
    );
    this.captures = new BatchLane(
      laneOptions,
      async (captures) => {
        const rows = await callLedgerFunction<PhotoCaptureRow & { request_index: number }>(
          db, "SELECT * FROM ledger_capture_photos_many($1::jsonb)", [JSON.stringify(captures)], { batch: captures.length });
        return byRequestIndex(rows, captures.length).map(toPhotoCapture);
      },
      (capture) => capturePreparedPhotoCharges(db, capture),
    );
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
