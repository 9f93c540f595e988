import { z } from "zod";
import { parseInput } from "./validation.js";

const milliseconds = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const configSchema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: "must be a postgresql:// URL" })
    .default("postgresql://postgres@127.0.0.1:5432/credits"),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: "must be a redis:// URL" }).default("redis://127.0.0.1:6379"),
  /** Unset: mail is written as .eml files to OUTBOX_DIR instead of being sent. */
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: "must be an smtp:// or smtps:// URL" }).optional(),
  OUTBOX_DIR: z.string().min(1).default("var/outbox"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  RESERVATION_TTL_MS: milliseconds(10 * 60_000),
  /** Prefix of every Redis key of our queues; tests use one of their own. */
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, { error: "must be letters, digits, _ or -" }).default("credits"),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(50),
  /** A job is a worker's for this long without a lock renewal; a dead worker's jobs come back after it. */
  WORKER_LOCK_DURATION_MS: milliseconds(30_000),
  /** Photos reserved, processed and charged together within one run. */
  METERING_SEGMENT_PHOTOS: z.coerce.number().int().min(1).max(10_000).default(500),
  SUPERVISOR_INTERVAL_MS: milliseconds(1_000),
  /** A queued or running run with no job in Redis for this long is enqueued again. */
  RECONCILE_AFTER_MS: milliseconds(60_000),
  PHOTO_PROCESSOR: z.enum(["simulated", "sharp"], { error: "must be simulated or sharp" }).default("simulated"),
  SIMULATED_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  SIMULATED_FAILURE_RATE: z.coerce.number().min(0).max(1).default(0),
  /** Where the sharp processor reads photos (<PHOTO_DIR>/<photo id>) and writes results. */
  PHOTO_DIR: z.string().min(1).default("var/photos"),
  MAIL_FROM: z.string().min(3).default("Credits <credits@localhost>"),
});

export type Config = z.output<typeof configSchema>;

/** Reads the configuration once, at an entry point; fails naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key] === "" ? undefined : env[key]]),
  );
  return parseInput(configSchema, relevant, "configuration", "CONFIG_INVALID");
}
