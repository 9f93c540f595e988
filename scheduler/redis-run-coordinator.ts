import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { RunCoordinator } from "node-cron";

/**
 * node-cron's distributed mode asks, on every fire, whether this process runs
 * it; the first process to claim the fire's key in Redis does. The key is
 * the task and its slot, kept for the lease, so a fire runs once across all
 * scheduler processes.
 */
export function redisRunCoordinator(redis: Redis, prefix: string, instance: string = randomUUID()): RunCoordinator {
  return {
    async shouldRun(key: string, ttlMs: number) {
      return (await redis.set(`${prefix}:cron:${key}`, instance, "PX", Math.max(ttlMs, 1_000), "NX")) === "OK";
    },
  };
}
