interface Pending<Request, Result> {
  request: Request;
  resolve(result: Result): void;
  reject(error: unknown): void;
}

export interface BatchLaneStats {
  /** Statements sent with more than one request. */
  batches: number;
  /** Requests sent alone: one waiting at the time, or one of a refused batch. */
  singles: number;
  /** Batches the database refused, whose requests then went one by one. */
  refusedBatches: number;
}

/**
 * Sends what concurrent callers ask of one kind at the same moment as one
 * statement: whatever queued while the previous batch was in flight, up to
 * `maxBatchSize`. A batch leaves once the event loop has run what is ready
 * (setImmediate), so the callers that one answer sets going, or one Redis
 * reply delivers, go together rather than the first alone and the rest after it.
 */
export class BatchLane<Request extends { orgId: string; key: string }, Result> {
  private readonly queue: Pending<Request, Result>[] = [];
  private inFlight = 0;
  private pumpScheduled = false;
  readonly stats: BatchLaneStats = { batches: 0, singles: 0, refusedBatches: 0 };

  constructor(
    private readonly options: {
      maxBatchSize: number;
      maxInFlight: number;
      /** Order within a batch (a stable sort keeps arrival order among equals). */
      order?: (a: Request, b: Request) => number;
      onRefused?: (error: unknown, size: number) => void;
    },
    private readonly runBatch: (requests: Request[]) => Promise<Result[]>,
    private readonly runOne: (request: Request) => Promise<Result>,
  ) {}

  submit(request: Request): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedulePump();
    });
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.maxBatchSize);
      this.inFlight += 1;
      void this.flush(batch).finally(() => {
        this.inFlight -= 1;
        this.schedulePump();
      });
    }
  }

  private async flush(batch: Pending<Request, Result>[]): Promise<void> {
    if (batch.length === 1) {
      this.stats.singles += 1;
      const [only] = batch as [Pending<Request, Result>];
      await this.runOne(only.request).then(only.resolve, only.reject);
      return;
    }
    const order = this.options.order;
    if (order) batch.sort((a, b) => order(a.request, b.request));
    this.stats.batches += 1;
    try {
      const results = await this.runBatch(batch.map((pending) => pending.request));
      batch.forEach((pending, index) => pending.resolve(results[index]!));
    } catch (error) {
      this.stats.refusedBatches += 1;
      this.options.onRefused?.(error, batch.length);
      this.stats.singles += batch.length;
      // One bad request fails the whole statement; run each alone so that
      // every caller gets its own result or its own error.
      await Promise.all(batch.map((pending) => this.runOne(pending.request).then(pending.resolve, pending.reject)));
    }
  }
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Org by org, keeping arrival order within an org. */
export const byOrg = (a: { orgId: string }, b: { orgId: string }) => compareText(a.orgId, b.orgId);
/** Org by org, then key: the order batch statements lock rows in. */
export const byOrgThenKey = (a: { orgId: string; key: string }, b: { orgId: string; key: string }) =>
  compareText(a.orgId, b.orgId) || compareText(a.key, b.key);

