import type { Logger } from "./logger.js";

/**
 * Stops a process cleanly on SIGTERM or SIGINT: runs the steps in order (each
 * step may close several things at once), once, and logs how it went. A step
 * that fails makes the exit code 1; the remaining steps still run.
 */
export function stopOnSignals(logger: Logger, steps: (() => Promise<unknown> | unknown)[], message = "stopping"): void {
  let stopping = false;
  const stop = async (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, message);
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        logger.error({ err: error }, "unclean stop");
        process.exitCode = 1;
      }
    }
    logger.info("stopped");
  };
  process.once("SIGTERM", (signal) => void stop(signal));
  process.once("SIGINT", (signal) => void stop(signal));
}
