import { UnrecoverableError, type Job } from "bullmq";
import { AppError } from "../core/errors.js";
import { childLoggerOnDemand, type Logger } from "../core/logger.js";

/**
 * Wraps a processor: logs with the job's ids, and turns an error that a retry
 * cannot help (a typed error with retryable=false, such as an invalid payload)
 * into BullMQ's unrecoverable failure, so it is not retried. `onGivingUp` runs
 * when the job will not run again.
 */
export function handleJob<Data, Result>(
  logger: Logger,
  processor: (job: Job<Data>, logger: Logger) => Promise<Result>,
  onGivingUp?: (job: Job<Data>, error: unknown) => Promise<void>,
): (job: Job<Data>) => Promise<Result> {
  return async (job) => {
    const data = (typeof job.data === "object" && job.data !== null ? job.data : {}) as Record<string, unknown>;
    const log = childLoggerOnDemand(logger, {
      jobId: job.id, job: job.name, attempt: job.attemptsMade + 1,
      orgId: data.orgId, eventId: data.eventId, runId: data.runId,
    });
    try {
      return await processor(job, log);
    } catch (error) {
      const retryable = !(error instanceof AppError) || error.retryable;
      const givingUp = !retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      log.error({ err: error, code: error instanceof AppError ? error.code : undefined, retryable, givingUp }, "job failed");
      if (givingUp && onGivingUp) await onGivingUp(job, error).catch((cause: unknown) => log.error({ err: cause }, "could not record the failure"));
      if (!retryable) throw new UnrecoverableError(`${(error as AppError).code}: ${(error as AppError).message}`);
      throw error;
    }
  };
}
