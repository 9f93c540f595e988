import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../core/config.js";
import type { Logger } from "../core/logger.js";
import { HttpPaymentProvider } from "../payments/http-payment-provider.js";
import type { PaymentProvider } from "../payments/payment-provider.js";
import { createPaymentRecheckQueue } from "../payments/recheck-queue.js";
import type { Database } from "../prisma/database.js";
import { sellerFromConfig } from "../reports/record-statement.js";
import { createStatementQueue } from "../reports/statement-queue.js";
import { createMeteringQueue, notificationQueueName, queueSettings } from "../workers/metering-queues.js";
import { buildApi } from "./build-api.js";

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/**
 * Builds the API from configuration and starts listening. The database is
 * the caller's (it closes it); Redis and the queue handles are the API's.
 */
export async function startApi(
  config: Config,
  deps: { db: Database; logger: Logger; provider?: PaymentProvider },
  listen: { port: number; host: string },
): Promise<RunningApi> {
  const settings = queueSettings(config);
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: false });
  // The API comes up, and reports "not ready", while Redis is down; the log says so at most every 30 s.
  let lastRedisWarningAt = 0;
  const warnRedisDown = (error: Error) => {
    if (Date.now() - lastRedisWarningAt < 30_000) return;
    lastRedisWarningAt = Date.now();
    deps.logger.warn({ err: error }, "Redis unreachable: rate limits, queue figures and readiness fail until it is back");
  };
  redis.on("error", warnRedisDown);
  const queues = [
    createMeteringQueue(settings),
    new Queue(notificationQueueName, { connection: settings.connection, prefix: settings.prefix }),
    createPaymentRecheckQueue(settings),
    createStatementQueue(settings),
  ];
  for (const queue of queues) queue.on("error", warnRedisDown);
  const app = await buildApi({
    db: deps.db,
    logger: deps.logger,
    provider: deps.provider ?? new HttpPaymentProvider({ baseUrl: config.PAYMENT_PROVIDER_URL, timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS }),
    seller: sellerFromConfig(config),
    config,
    redis,
    queues: queues as Queue[],
    rateLimitPrefix: config.QUEUE_PREFIX,
  });
  const url = await app.listen({ port: listen.port, host: listen.host });
  return {
    url,
    async close() {
      await app.close();
      await Promise.all(queues.map((queue) => queue.close()));
      redis.disconnect();
    },
  };
}
