import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { loadConfig } from "../core/config.js";
import type { QueueSettings } from "../workers/metering-queues.js";

export interface TestQueues extends QueueSettings {
  readonly redisUrl: string;
  /** Deletes every key under this file's prefix. */
  cleanUp(): Promise<void>;
}

/** Queues of this test file's own: a fresh key prefix on the given (default: shared) Redis. */
export function createTestQueues(redisUrl = loadConfig().REDIS_URL): TestQueues {
  const prefix = `test-${randomBytes(5).toString("hex")}`;
  return {
    prefix,
    redisUrl,
    connection: { url: redisUrl, maxRetriesPerRequest: null },
    async cleanUp() {
      const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      try {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
          if (keys.length > 0) await redis.del(...keys);
          cursor = next;
        } while (cursor !== "0");
      } finally {
        redis.disconnect();
      }
    },
  };
}
