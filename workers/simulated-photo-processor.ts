import { createHash } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { PhotoBatch, PhotoProcessor, PhotoResults } from "./photo-processor.js";

export interface SimulatedProcessorOptions {
  latencyMsPerPhoto: number;
  /** Share of photos that fail, 0..1; which ones is fixed by the photo id, so a retry fails the same ones. */
  failureRate: number;
}

/** For the demo, tests and benchmark: takes time, fails some photos, does no real work. */
export class SimulatedPhotoProcessor implements PhotoProcessor {
  constructor(private readonly options: SimulatedProcessorOptions) {}

  async process(batch: PhotoBatch): Promise<PhotoResults> {
    if (this.options.latencyMsPerPhoto > 0) await sleep(this.options.latencyMsPerPhoto * batch.photoIds.length);
    const results: PhotoResults = { processed: [], failed: [] };
    for (const photoId of batch.photoIds) {
      if (this.options.failureRate > 0 && unitInterval(photoId) < this.options.failureRate) {
        results.failed.push({ photoId, reason: "simulated failure" });
      } else {
        results.processed.push(photoId);
      }
    }
    return results;
  }
}

function unitInterval(text: string): number {
  return createHash("sha256").update(text).digest().readUInt32BE(0) / 0x1_0000_0000;
}
