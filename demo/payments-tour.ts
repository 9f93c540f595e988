import { randomUUID } from "node:crypto";
import type { Config } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import type { Database } from "../prisma/database.js";
import { HttpPaymentProvider } from "../payments/http-payment-provider.js";
import { formatMoney } from "../payments/money.js";
import { purchaseCredits } from "../payments/purchase-credits.js";
import { recheckPayments } from "../payments/recheck-payments.js";
import { createPaymentRecheckQueue } from "../payments/recheck-queue.js";
import { SimulatedProviderServer } from "../payments/simulated-provider-server.js";
import { createWebhookServer } from "../payments/webhook-server.js";
import { enqueueStuckPaymentRechecks } from "../scheduler/enqueue-stuck-payment-rechecks.js";
import { queueSettings } from "../workers/metering-queues.js";
import { startPaymentRecheckWorker } from "../workers/payment-recheck-worker.js";
import { formatTable } from "./print-table.js";

const heading = (text: string) => console.log(`\n== ${text}`);

/**
 * Part 3: buying credits when the provider leaves the payment pending. The
 * simulated provider and our webhook receiver run here on free ports; the
 * webhook never comes, so the payment is stuck until a recheck settles it.
 */
export async function startPaymentsTour(db: Database, config: Config) {
  const logger = createLogger({ level: "error", name: "demo-payments" });
  const webhooks = createWebhookServer({ db, logger, secret: config.PAYMENT_WEBHOOK_SECRET, toleranceMs: config.WEBHOOK_TOLERANCE_MS });
  const simulator = new SimulatedProviderServer({ webhookSecret: config.PAYMENT_WEBHOOK_SECRET, webhookUrl: await webhooks.listen(0) });
  const provider = new HttpPaymentProvider({ baseUrl: await simulator.listen(0), timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS });
  const queues = { ...queueSettings(config), prefix: `${config.QUEUE_PREFIX}-demo-payments-${randomUUID().slice(0, 8)}` };
  const rechecks = createPaymentRecheckQueue(queues);
  const worker = startPaymentRecheckWorker({ db, provider, logger, queues, maxPendingChecks: config.PAYMENT_MAX_PENDING_CHECKS });

  return {
    /** An admin buys credits; the payment sticks; a scheduled and a manual recheck settle it. */
    async buyThroughStuckPayment(orgId: string, userId: string, credits: number): Promise<void> {
      simulator.setScenario({ outcome: "pending", webhook: "never" });
      const purchase = await purchaseCredits(
        { db, provider, logger, limits: { minCredits: config.PURCHASE_MIN_CREDITS, maxCredits: config.PURCHASE_MAX_CREDITS, taxRate: config.TAX_RATE } },
        { orgId, userId, credits, idempotencyKey: `demo-top-up-${randomUUID()}` },
      );
      heading(`Admin buys ${credits} credits for ${formatMoney(purchase.totalMinor, purchase.currency)}: the provider leaves the payment pending, its webhook is lost`);
      const stuck = await db.prisma.payment.findUniqueOrThrow({ where: { id: purchase.paymentId } });
      console.log(formatTable([{ payment: stuck.id, status: stuck.status, credits: stuck.credits, intent: stuck.providerIntentId, createdAt: stuck.createdAt }]));

      await enqueueStuckPaymentRechecks({ db, queue: rechecks, logger, instance: "demo" }, {
        slot: new Date(), stuckAfterMs: 0, attempts: config.PAYMENT_RECHECK_ATTEMPTS, backoffMs: 1_000,
      });
      await waitForCheck(db, purchase.paymentId);
      const afterTick = await db.prisma.paymentCheck.findFirstOrThrow({ where: { paymentId: purchase.paymentId }, orderBy: { id: "desc" } });
      console.log(`scheduled recheck (tick ${afterTick.tick}): provider says still pending, payment stays ${afterTick.newStatus}`);

      simulator.settle(stuck.providerIntentId!, "succeeded");
      console.log("the bank confirms the payment at the provider; no webhook reaches us. Ops rechecks it by hand:");
      const rows = await recheckPayments({ db, provider, logger }, { paymentId: purchase.paymentId }, { maxPendingChecks: config.PAYMENT_MAX_PENDING_CHECKS });
      console.log(formatTable(rows.map((r) => ({ payment: r.paymentId, oldStatus: r.oldStatus, newStatus: r.newStatus, creditsAdded: r.creditsAdded, invoice: r.invoiceNumber }))));
    },
    async close() {
      await worker.close();
      await rechecks.obliterate({ force: true }).catch(() => {});
      await rechecks.close();
      await simulator.close();
      await webhooks.close();
    },
  };
}

async function waitForCheck(db: Database, paymentId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await db.prisma.paymentCheck.count({ where: { paymentId, source: "scheduled" } })) === 0) {
    if (Date.now() > deadline) throw new Error("demo timed out waiting for the scheduled recheck");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
