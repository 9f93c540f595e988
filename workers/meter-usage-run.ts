import { AppError, isAppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import { releaseReservation } from "../ledger/release-reservation.js";
import type { PhotoCapture } from "../ledger/capture-photo-charges.js";
import { creditsPerPhoto } from "../ledger/usage-prices.js";
import type { Database } from "../prisma/database.js";
import { completeUsageRun, mustPark, parkUsageRun, pauseIfOutOfCredits } from "./org-processing-state.js";
import type { PhotoProcessor, PhotoResults } from "./photo-processor.js";
import type { MeteringLedger } from "./metering-ledger.js";
import type { UsageRunPayload } from "./usage-run-payload.js";

export interface MeteringDependencies {
  db: Database;
  ledger: MeteringLedger;
  processor: PhotoProcessor;
  segmentPhotos: number;
  reservationTtlMs: number;
  /** Called once per pause, by the execution that paused the org. */
  onOrgPaused(orgId: string, pausedAt: Date): Promise<void>;
}

export interface MeteringOutcome {
  outcome: "completed" | "parked" | "already-finished";
  /** Charged by this execution; photos charged by an earlier one are not charged again. */
  photosCharged: number;
  photosFailed: number;
  photosLeft: number;
}

/**
 * Meters one execution of a usage run: for each segment, reserve credits for
 * the photos about to be processed (as many as the balance allows), process
 * them, charge what was processed and release the rest. Photos that an
 * earlier execution charged or saw fail are skipped. When the credits run
 * out the run parks and the org pauses.
 */
export async function meterUsageRun(
  deps: MeteringDependencies,
  run: UsageRunPayload,
  execution: { id: string; logger: Logger },
): Promise<MeteringOutcome> {
  const price = creditsPerPhoto[run.kind];
  const holdKey = (segment: number) => `${run.runId}.${run.kind}.${execution.id}.${segment}`;
  const firstHold = { key: holdKey(0), creditsPerPhoto: price, segmentPhotos: deps.segmentPhotos, ttlMs: deps.reservationTtlMs };
  let started = await deps.ledger.begin(run, firstHold);
  if (started.status === "UNRECORDED") started = await deps.ledger.begin(run, firstHold, { recordRun: true });
  if (!started.fingerprintMatches) {
    throw new AppError("IDEMPOTENCY_CONFLICT", `run "${run.runId}" (${run.kind}) is already recorded with other photos, event or user`);
  }
  if (started.status === "COMPLETED" || started.status === "FAILED") {
    return { outcome: "already-finished", photosCharged: 0, photosFailed: 0, photosLeft: 0 };
  }
  for (const key of started.staleHoldKeys) {
    await releaseReservation(deps.db, { orgId: run.orgId, key });
    execution.logger.info({ reservationKey: key }, "released a hold left by an earlier execution");
  }

  const settled = new Set([...started.chargedPhotoIds, ...started.failedPhotoIds]);
  let pending = run.photoIds.filter((photoId) => !settled.has(photoId));
  const outcome: MeteringOutcome = { outcome: "completed", photosCharged: 0, photosFailed: 0, photosLeft: pending.length };
  if (pending.length === 0) {
    await completeUsageRun(deps.db, run);
    return outcome;
  }
  if (started.mustPark) return park(deps, run, outcome);

  for (let segment = 0; pending.length > 0; segment++) {
    if (segment > 0 && (await mustPark(deps.db, run))) return park(deps, run, outcome);
    const wanted = pending.slice(0, deps.segmentPhotos);
    const key = holdKey(segment);
    const hold = segment === 0 && started.firstHold
      ? started.firstHold
      : await deps.ledger.reserve({
        orgId: run.orgId, key, credits: wanted.length * price, usageType: run.kind, eventId: run.eventId,
        userId: run.userId, reference: run.runId, ttlMs: deps.reservationTtlMs,
      });
    if (hold.creditsRequested !== wanted.length * price) {
      // The database counted the run's next photos differently: hold nothing on a guess.
      await releaseReservation(deps.db, { orgId: run.orgId, key });
      throw new AppError("LEDGER_INVARIANT_BROKEN",
        `run "${run.runId}": the first segment's hold asked ${hold.creditsRequested} credits for ${wanted.length} photos`);
    }
    const affordable = wanted.slice(0, Math.floor(hold.creditsReserved / price));
    let capture: PhotoCapture;
    let results: PhotoResults = { processed: [], failed: [] };
    try {
      if (affordable.length > 0) results = await processSegment(deps, run, affordable);
      capture = await deps.ledger.capturePhotos({
        orgId: run.orgId, key, runId: run.runId, photoIds: results.processed, creditsPerPhoto: price,
        failedPhotoIds: results.failed.map((failure) => failure.photoId), runDone: pending.length === affordable.length,
      });
    } catch (error) {
      // Give the credits back now rather than at the hold's expiry; the retry reserves afresh.
      await releaseReservation(deps.db, { orgId: run.orgId, key }).catch((cause: unknown) =>
        execution.logger.warn({ err: cause, reservationKey: key }, "could not release the hold; it expires by itself"));
      if (isAppError(error, "RESERVATION_NOT_HELD")) {
        // The hold expired or an execution that took this run over released it:
        // nothing was charged, so the segment is simply done again.
        throw new AppError("HOLD_LOST", `run "${run.runId}" lost its hold before charging: ${error.message}`, { cause: error });
      }
      throw error;
    }
    pending = pending.slice(affordable.length);
    outcome.photosCharged += capture.photosCharged;
    outcome.photosFailed += results.failed.length;
    outcome.photosLeft = pending.length;
    execution.logger.debug(
      { segment, reserved: hold.creditsReserved, charged: capture.photosCharged, failed: results.failed.length, left: pending.length },
      "segment settled",
    );
    if (affordable.length < wanted.length) {
      const pausedAt = await pauseIfOutOfCredits(deps.db, run.orgId, price);
      if (pausedAt) {
        execution.logger.warn({ pausedAt }, "organisation is out of credits: processing paused");
        await deps.onOrgPaused(run.orgId, pausedAt);
      }
      return park(deps, run, outcome);
    }
  }
  return outcome;
}

async function processSegment(deps: MeteringDependencies, run: UsageRunPayload, photoIds: string[]): Promise<PhotoResults> {
  let reported: PhotoResults;
  try {
    reported = await deps.processor.process({ orgId: run.orgId, eventId: run.eventId, kind: run.kind, photoIds });
  } catch (error) {
    throw new AppError("PHOTO_PROCESSOR_FAILED", `photo processor failed: ${(error as Error).message}`, { cause: error });
  }
  // Charge only photos of this segment that the processor says it processed;
  // a photo it does not account for counts as failed.
  const inSegment = new Set(photoIds);
  const processed = [...new Set(reported.processed.filter((photoId) => inSegment.has(photoId)))];
  const accounted = new Set(processed);
  const failed = reported.failed.filter((failure) => inSegment.has(failure.photoId) && !accounted.has(failure.photoId));
  for (const failure of failed) accounted.add(failure.photoId);
  for (const photoId of photoIds) {
    if (!accounted.has(photoId)) failed.push({ photoId, reason: "not reported by the photo processor" });
  }
  return { processed, failed };
}

async function park(deps: MeteringDependencies, run: UsageRunPayload, outcome: MeteringOutcome): Promise<MeteringOutcome> {
  await parkUsageRun(deps.db, run);
  return { ...outcome, outcome: "parked" };
}
