import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { makeOrg } from "../test/factories.js";
import { quietLogger } from "../test/metering-harness.js";
import { paymentBooks, startPaymentsWorld, webhookSecret } from "../test/payments-harness.js";
import { signatureHeader, signWebhook } from "./webhook-signature.js";
import { waitFor } from "../test/wait-for.js";
import { purchaseCredits } from "./purchase-credits.js";
import { recheckPayment } from "./recheck-payment.js";

let db: TestDatabase;
let world: Awaited<ReturnType<typeof startPaymentsWorld>>;
beforeAll(async () => {
  db = await createTestDatabase();
  world = await startPaymentsWorld(db, { providerTimeoutMs: 500 });
});
afterAll(async () => {
  await world.close();
  await db.drop();
});

let purchases = 0;
const buy = (org: { org: { id: string }; admin: { id: string } }, credits = 1_000, key = `buy-${++purchases}`) =>
  purchaseCredits(world.deps, { orgId: org.org.id, userId: org.admin.id, credits, idempotencyKey: key });
const recheck = (paymentId: string) =>
  recheckPayment({ db, provider: world.provider, logger: quietLogger }, { paymentId, source: "manual", maxPendingChecks: 12 });
const appliedEvents = async (paymentId: string) => {
  const { rows } = await db.pool.query("SELECT count(*)::int AS n FROM payment_check WHERE payment_id = $1 AND source = 'webhook'", [paymentId]);
  return rows[0].n as number;
};
const intentOf = async (paymentId: string) =>
  (await db.prisma.payment.findUniqueOrThrow({ where: { id: paymentId } })).providerIntentId!;

describe("buying credits", () => {
  it("success: credits once, one sequential invoice, and the webhook that follows changes nothing", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "succeed", webhook: "once" });
    const purchase = await buy(org, 1_500);
    expect(purchase).toMatchObject({ status: "SUCCEEDED", credits: 1_500, currency: "EUR", totalMinor: 7500n });
    expect(purchase.invoiceNumber).toMatch(/^INV-\d{4}-\d{6}$/);
    await waitFor(() => appliedEvents(purchase.paymentId), (n) => n === 1, { what: "webhook applied" });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_500, invoices: 1, balance: 1_500 });
    const invoice = await db.prisma.invoice.findUniqueOrThrow({ where: { paymentId: purchase.paymentId } });
    expect(invoice).toMatchObject({ credits: 1_500, currency: "EUR", subtotalMinor: 7500n, taxMinor: 0n, totalMinor: 7500n });
    expect(invoice.unitPrice.toString()).toBe("0.05");
  });

  it("failure: nothing credited, no invoice", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "fail" });
    expect(await buy(org)).toMatchObject({ status: "FAILED", invoiceNumber: null });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 0, purchased: 0, invoices: 0, balance: 0 });
  });

  it("pending, then success found by a recheck when the webhook never comes", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "pending", webhook: "never" });
    const purchase = await buy(org);
    expect(purchase.status).toBe("PENDING");
    expect(await recheck(purchase.paymentId)).toMatchObject({ oldStatus: "PENDING", newStatus: "PENDING", creditsAdded: 0 });
    world.simulator.settle(await intentOf(purchase.paymentId), "succeeded");
    expect(await recheck(purchase.paymentId)).toMatchObject({ oldStatus: "PENDING", newStatus: "SUCCEEDED", creditsAdded: 1_000 });
    expect(await recheck(purchase.paymentId)).toMatchObject({ oldStatus: "SUCCEEDED", newStatus: "SUCCEEDED", creditsAdded: 0 });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("provider answers 500 after charging: the recheck finds the same intent and credits once", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "succeed", create: "error500", webhook: "never" });
    const purchase = await buy(org);
    expect(purchase.status).toBe("PENDING");
    world.simulator.setScenario({ outcome: "succeed" });
    expect(await recheck(purchase.paymentId)).toMatchObject({ newStatus: "SUCCEEDED", creditsAdded: 1_000 });
    expect([...world.simulator.intents.values()].filter((i) => i.paymentId === purchase.paymentId)).toHaveLength(1);
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("provider times out: the payment stays pending and a recheck settles it; a status timeout is retried later", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "pending", create: "timeout", webhook: "never" });
    const purchase = await buy(org);
    expect(purchase.status).toBe("PENDING");
    // The recheck finds the intent through its idempotency key: still pending.
    expect(await recheck(purchase.paymentId)).toMatchObject({ newStatus: "PENDING" });
    world.simulator.settle(await intentOf(purchase.paymentId), "succeeded");
    world.simulator.setScenario({ outcome: "succeed", status: ["timeout"] });
    await expect(recheck(purchase.paymentId)).rejects.toMatchObject({ code: "PROVIDER_UNAVAILABLE", retryable: true });
    expect(await recheck(purchase.paymentId)).toMatchObject({ newStatus: "SUCCEEDED" });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("webhook duplicated or late: applied once", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "pending", webhook: "twice" });
    const purchase = await buy(org);
    world.simulator.settle(await intentOf(purchase.paymentId), "succeeded");
    await waitFor(async () => (await db.prisma.payment.findUniqueOrThrow({ where: { id: purchase.paymentId } })).status, (s) => s === "SUCCEEDED");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await appliedEvents(purchase.paymentId)).toBe(1);
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("an out-of-order webhook (failed after succeeded) changes nothing", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    const purchase = await buy(org);
    const body = JSON.stringify({
      id: "evt_out_of_order", type: "payment_intent.failed", created: 0,
      data: { intentId: await intentOf(purchase.paymentId), status: "failed", failureReason: "stale news" },
    });
    const response = await fetch(world.webhookUrl, {
      method: "POST", headers: { "content-type": "application/json", [signatureHeader]: signWebhook(body, webhookSecret) }, body,
    });
    expect(await response.json()).toMatchObject({ duplicate: false, oldStatus: "SUCCEEDED", newStatus: "SUCCEEDED", creditsAdded: 0 });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("webhook and recheck racing for the same payment: credited once", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "pending", webhook: "once" });
    const purchase = await buy(org);
    const intentId = await intentOf(purchase.paymentId);
    world.simulator.settle(intentId, "succeeded");
    await Promise.all([recheck(purchase.paymentId), recheck(purchase.paymentId), recheck(purchase.paymentId)]);
    await waitFor(() => appliedEvents(purchase.paymentId), (n) => n === 1, { what: "webhook applied" });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 1_000, invoices: 1, balance: 1_000 });
  });

  it("a buyer process killed after the provider charged but before we credited: the recheck credits once", async () => {
    const org = await makeOrg(db);
    // The provider charges, then never answers; the buyer is killed while it waits.
    world.simulator.setScenario({ outcome: "succeed", create: "timeout", webhook: "never" });
    const buyer = spawn(process.execPath, ["--import", "tsx", "payments/cli.ts", "buy", "--org", org.org.id, "--user", org.admin.id, "--credits", "2000", "--key", "killed-buyer"], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      env: { ...process.env, DATABASE_URL: db.url, PAYMENT_PROVIDER_URL: world.providerUrl, PAYMENT_PROVIDER_TIMEOUT_MS: "60000", LOG_LEVEL: "silent" },
      stdio: "ignore",
    });
    await waitFor(async () => [...world.simulator.intents.values()].some((i) => i.amountMinor === "10000"), (charged) => charged, { what: "provider charged", timeoutMs: 30_000 });
    buyer.kill("SIGKILL");
    await new Promise((resolve) => buyer.once("exit", resolve));
    const payment = await db.prisma.payment.findFirstOrThrow({ where: { orgId: org.org.id } });
    expect(payment).toMatchObject({ status: "PENDING", providerIntentId: null });
    world.simulator.setScenario({ outcome: "succeed" });
    expect(await recheck(payment.id)).toMatchObject({ newStatus: "SUCCEEDED", creditsAdded: 2_000 });
    expect(await recheck(payment.id)).toMatchObject({ newStatus: "SUCCEEDED", creditsAdded: 0 });
    expect(await paymentBooks(db, org.org.id)).toEqual({ purchases: 1, purchased: 2_000, invoices: 1, balance: 2_000 });
  }, 60_000);

  it("the same purchase key twice charges once; another purchase under it is refused", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    const [first, second] = await Promise.all([buy(org, 1_000, "double-click"), buy(org, 1_000, "double-click")]);
    expect([first.paymentId]).toContain(second.paymentId);
    await expect(buy(org, 5_000, "double-click")).rejects.toMatchObject({ code: "IDEMPOTENCY_CONFLICT" });
    expect(await paymentBooks(db, org.org.id)).toMatchObject({ purchases: 1, purchased: 1_000 });
  });

  it("invoice numbers are consecutive, without gaps, under concurrent payments", async () => {
    const org = await makeOrg(db);
    world.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    await Promise.all(Array.from({ length: 10 }, () => buy(org)));
    const numbers = (await db.prisma.invoice.findMany({ select: { number: true } })).map((i) => Number(i.number.slice(-6))).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => i + 1));
  });

  it("prices in the currency's minor unit, with tax, rounded once", async () => {
    const org = await makeOrg(db, { currency: "KWD", costPerCredit: "0.0125" });
    world.simulator.setScenario({ outcome: "succeed", webhook: "never" });
    const purchase = await purchaseCredits({ ...world.deps, limits: { ...world.limits, taxRate: "0.05" } },
      { orgId: org.org.id, userId: org.admin.id, credits: 1_001, idempotencyKey: "kwd" });
    expect(purchase.totalMinor).toBe(13139n); // 12.5125 -> 12.513 KWD, tax 0.626, total 13.139
    const intent = [...world.simulator.intents.values()].find((i) => i.paymentId === purchase.paymentId)!;
    expect(intent).toMatchObject({ amountMinor: "13139", currency: "KWD" });
  });
});
