import type { UsageType } from "../ledger/ledger-inputs.js";

export interface PhotoBatch {
  orgId: string;
  eventId: number;
  kind: UsageType;
  photoIds: readonly string[];
}

export interface PhotoResults {
  processed: string[];
  failed: { photoId: string; reason: string }[];
}

/**
 * The photo work itself. Metering does not care what it does: it charges the
 * photos reported processed and none of those reported failed. Throwing means
 * the whole batch is in doubt; none of it is charged and the job retries.
 */
export interface PhotoProcessor {
  process(batch: PhotoBatch): Promise<PhotoResults>;
}
