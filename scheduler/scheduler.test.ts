import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { createTestQueues, type TestQueues } from "../test/test-queues.js";
import { makeOrg } from "../test/factories.js";
import { quietLogger } from "../test/metering-harness.js";
import { startPaymentsWorld } from "../test/payments-harness.js";
import { waitFor } from "../test/wait-for.js";
import { purchaseCredits } from "../payments/purchase-credits.js";
import { recheckPayment } from "../payments/recheck-payment.js";
import { createPaymentRecheckQueue } from "../payments/recheck-queue.js";
import { startPaymentRecheckWorker } from "../workers/payment-recheck-worker.js";
import { enqueueStuckPaymentRechecks } from "./enqueue-stuck-payment-rechecks.js";

const projectRoot = fileURLToPath(new URL("..", import.meta.url));
let db: TestDatabase;
let queues: TestQueues;
let world: Awaited<ReturnType<typeof startPaymentsWorld>>;
let worker: Worker;
const children: ChildProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  queues = createTestQueues();
  world = await startPaymentsWorld(db);
  worker = startPaymentRecheckWorker({ db, provider: world.provider, logger: quietLogger, queues, maxPendingChecks: 1_000 });
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await worker.close();
  await world.close();
  await queues.cleanUp();
  await db.drop();
});

async function pendingPayments(count: number) {
  const org = await makeOrg(db);
  world.simulator.setScenario({ outcome: "pending", webhook: "never" });
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await purchaseCredits(world.deps, { orgId: org.org.id, userId: org.admin.id, credits: 1_000, idempotencyKey: `p${i}-${Date.now()}` })).paymentId);
  }
  return { org, ids };
}

describe("stuck-payment rechecks on a schedule", () => {
  it("two scheduler processes, several ticks: each tick fires once and rechecks each stuck payment once", async () => {
    const { ids } = await pendingPayments(3);
    const env = {
      ...process.env, DATABASE_URL: db.url, QUEUE_PREFIX: queues.prefix, LOG_LEVEL: "silent",
      PAYMENT_RECHECK_CRON: "* * * * * *", PAYMENT_STUCK_AFTER_MS: "1",
    };
    for (let i = 0; i < 2; i++) {
      const scheduler = spawn(process.execPath, ["--import", "tsx", "scheduler/main.ts"], { cwd: projectRoot, env, stdio: "ignore" });
      children.push(scheduler);
    }
    await waitFor(async () => (await db.pool.query("SELECT count(DISTINCT slot)::int AS n FROM scheduler_tick")).rows[0].n as number,
      (ticks) => ticks >= 4, { what: "four ticks", timeoutMs: 30_000 });
    for (const scheduler of children) scheduler.kill("SIGTERM");
    await Promise.all(children.map((child) => child.exitCode !== null ? null : new Promise((resolve) => child.once("exit", resolve))));
    await new Promise((resolve) => setTimeout(resolve, 300));

    const ticks = await db.pool.query<{ slot: string; fires: number; instances: number }>(
      "SELECT slot, count(*)::int AS fires, count(DISTINCT instance)::int AS instances FROM scheduler_tick GROUP BY slot");
    expect(ticks.rows.every((tick) => tick.fires === 1)).toBe(true);
    const checks = await db.pool.query<{ payment_id: string; tick: string; n: number }>(
      "SELECT payment_id, tick, count(*)::int AS n FROM payment_check WHERE source = 'scheduled' GROUP BY payment_id, tick");
    expect(checks.rows.every((row) => row.n === 1)).toBe(true);
    for (const id of ids) {
      expect(checks.rows.filter((row) => row.payment_id === id).length).toBeGreaterThanOrEqual(3);
    }
    const statuses = await db.prisma.payment.findMany({ where: { id: { in: ids } }, select: { status: true } });
    expect(statuses.every((p) => p.status === "PENDING")).toBe(true);
  }, 60_000);

  it("a tick that overlaps a slow previous one adds no second recheck for a payment", async () => {
    const { ids: [paymentId] } = await pendingPayments(1);
    await db.pool.query("UPDATE payment SET created_at = now() - interval '1 hour' WHERE id = $1", [paymentId]);
    // A queue with no worker: the first tick's rechecks are still waiting when the second tick comes.
    const idle = createPaymentRecheckQueue({ ...queues, prefix: `${queues.prefix}-idle` });
    const tick = (slot: string) => enqueueStuckPaymentRechecks({ db, queue: idle, logger: quietLogger, instance: "test" },
      { slot: new Date(slot), stuckAfterMs: 1_000, attempts: 1, backoffMs: 50 });
    await tick("2026-11-21T10:00:00Z");
    await tick("2026-11-21T10:05:00Z");
    const waiting = await idle.getJobs(["waiting"]);
    expect(waiting.filter((job) => job.data.paymentId === paymentId)).toHaveLength(1);
    await idle.obliterate({ force: true });
    await idle.close();
  });

  it("a recheck that cannot reach the provider retries with backoff, then the payment needs attention", async () => {
    const { org, ids: [paymentId] } = await pendingPayments(1);
    // Every status request fails (the earlier test's payments are rechecked too).
    world.simulator.setScenario({ outcome: "pending", status: Array.from({ length: 100 }, () => "error500" as const) });
    const queue = createPaymentRecheckQueue(queues);
    await db.pool.query("UPDATE payment SET created_at = now() - interval '1 hour' WHERE id = $1", [paymentId]);
    await enqueueStuckPaymentRechecks({ db, queue, logger: quietLogger, instance: "test" },
      { slot: new Date(), stuckAfterMs: 1_000, attempts: 3, backoffMs: 50 });
    await waitFor(async () => (await db.prisma.payment.findUniqueOrThrow({ where: { id: paymentId! } })).status, (s) => s === "NEEDS_ATTENTION", { what: "needs attention" });
    const job = await queue.getJob(`recheck.${paymentId}`);
    expect(job?.attemptsMade).toBe(3);
    expect((await db.prisma.payment.findUniqueOrThrow({ where: { id: paymentId! } })).failureReason).toMatch(/recheck gave up: payment provider .* answered 500/);
    expect((await db.prisma.organisation.findUniqueOrThrow({ where: { id: org.org.id } })).balanceCredits).toBe(0n);
    await queue.close();
    world.simulator.setScenario({});
  });

  it("a payment still pending after every scheduled recheck needs attention; ops can recheck it by hand", async () => {
    const { org, ids: [paymentId] } = await pendingPayments(1);
    const deps = { db, provider: world.provider, logger: quietLogger };
    await recheckPayment(deps, { paymentId: paymentId!, source: "scheduled", tick: "t1", maxPendingChecks: 2 });
    expect(await recheckPayment(deps, { paymentId: paymentId!, source: "scheduled", tick: "t2", maxPendingChecks: 2 }))
      .toMatchObject({ oldStatus: "PENDING", newStatus: "NEEDS_ATTENTION" });

    const intentId = (await db.prisma.payment.findUniqueOrThrow({ where: { id: paymentId! } })).providerIntentId!;
    world.simulator.settle(intentId, "succeeded");
    const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "payments/cli.ts", "recheck", "--needs-attention"], {
      cwd: projectRoot, env: { ...process.env, DATABASE_URL: db.url, PAYMENT_PROVIDER_URL: world.providerUrl, LOG_LEVEL: "silent" },
    });
    expect(stdout).toMatch(new RegExp(`${paymentId}\\s+NEEDS_ATTENTION\\s+SUCCEEDED\\s+1000\\s+INV-\\d{4}-\\d{6}`));
    expect((await db.prisma.organisation.findUniqueOrThrow({ where: { id: org.org.id } })).balanceCredits).toBe(1000n);
  });
});
