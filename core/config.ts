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
  PAYMENT_PROVIDER_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).default("http://127.0.0.1:4010"),
  /** Shared with the provider; signs its webhooks. The default is for local use only. */
  PAYMENT_WEBHOOK_SECRET: z.string().min(16, { error: "must be at least 16 characters" }).default("local-development-webhook-secret"),
  PAYMENT_PROVIDER_TIMEOUT_MS: milliseconds(5_000),
  /** A webhook whose signed timestamp is further than this from now is refused (replay). */
  WEBHOOK_TOLERANCE_MS: milliseconds(300_000),
  WEBHOOK_PORT: z.coerce.number().int().min(1).max(65_535).default(4020),
  /** Interface our HTTP servers listen on; 0.0.0.0 in containers. */
  LISTEN_HOST: z.string().min(1).default("127.0.0.1"),
  /** Where the simulated provider sends its webhooks. */
  PROVIDER_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).default("http://127.0.0.1:4020/webhooks/payments"),
  SIMULATED_PROVIDER_PORT: z.coerce.number().int().min(1).max(65_535).default(4010),
  PURCHASE_MIN_CREDITS: z.coerce.number().int().min(1).default(1_000),
  PURCHASE_MAX_CREDITS: z.coerce.number().int().min(1).max(100_000_000).default(10_000_000),
  /** Tax on credit purchases, a decimal fraction ("0.19" is 19 %). */
  TAX_RATE: z.string().regex(/^(0|0?\.[0-9]{1,6}|1)$/, { error: "must be a decimal fraction from 0 to 1, e.g. 0.19" }).default("0"),
  /** A payment pending for longer than this is stuck, and rechecked. */
  PAYMENT_STUCK_AFTER_MS: milliseconds(10 * 60_000),
  PAYMENT_RECHECK_CRON: z.string().min(9).default("*/5 * * * *"),
  /** Tries per recheck when the provider cannot be reached; then the payment needs attention. */
  PAYMENT_RECHECK_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(6),
  /** First wait before a recheck that could not reach the provider tries again; it doubles each time. */
  PAYMENT_RECHECK_BACKOFF_MS: milliseconds(30_000),
  /** Rechecks that find the payment still pending before it needs attention. */
  PAYMENT_MAX_PENDING_CHECKS: z.coerce.number().int().min(1).max(10_000).default(12),
  /** When the scheduler looks for statements that are due (UTC); hourly covers every org's time zone. */
  STATEMENT_CRON: z.string().min(9).default("0 * * * *"),
  /** Local time on the 1st from which an org's statement for the month before is due. */
  STATEMENT_SEND_AT: z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, { error: "must be HH:MM" }).default("06:00"),
  STATEMENT_DELIVERY_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  STATEMENT_RETRY_BACKOFF_MS: milliseconds(60_000),
  API_PORT: z.coerce.number().int().min(1).max(65_535).default(4000),
  /** Requests per minute allowed to one API token (or, without one, to one address). */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).max(10_000_000).default(600),
  /** How long an API process trusts a token it has looked up; a revocation takes at most this long to bite. 0: look up on every request. */
  /** Unknown tokens one address may try in a minute before it gets 429 (each unknown token has a budget of its own otherwise). */
  API_FAILED_LOGINS_PER_MINUTE: z.coerce.number().int().min(1).max(1_000_000).default(30),
  API_TOKEN_CACHE_MS: z.coerce.number().int().min(0).max(300_000).default(5_000),
  API_BODY_LIMIT_BYTES: z.coerce.number().int().min(1_024).max(10_485_760).default(16_384),
  SELLER_NAME: z.string().min(1).default("Credits Platform Ltd"),
  /** The seller's address on invoices, lines separated by ";". */
  SELLER_ADDRESS: z.string().min(1).default("1 Harbour Street;Dublin D02 XY45;Ireland"),
  SELLER_TAX_ID: z.string().min(1).default("IE1234567X"),
});

export type Config = z.output<typeof configSchema>;

/** Reads the configuration once, at an entry point; fails naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape).map((key) => [key, env[key] === "" ? undefined : env[key]]),
  );
  return parseInput(configSchema, relevant, "configuration", "CONFIG_INVALID");
}
