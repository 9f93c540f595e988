import type { Database } from "../prisma/database.js";
import { HttpPaymentProvider } from "../payments/http-payment-provider.js";
import { SimulatedProviderServer } from "../payments/simulated-provider-server.js";
import { createWebhookServer } from "../payments/webhook-server.js";
import { quietLogger } from "./metering-harness.js";

export const webhookSecret = "test-webhook-secret-0123456789";

/** The simulated provider and our webhook receiver, each on a free port, talking real HTTP. */
export async function startPaymentsWorld(db: Database, options: { providerTimeoutMs?: number } = {}) {
  const webhooks = createWebhookServer({ db, logger: quietLogger, secret: webhookSecret, toleranceMs: 300_000 });
  const webhookUrl = await webhooks.listen(0);
  const simulator = new SimulatedProviderServer({ webhookSecret, webhookUrl });
  const providerUrl = await simulator.listen(0);
  const provider = new HttpPaymentProvider({ baseUrl: providerUrl, timeoutMs: options.providerTimeoutMs ?? 2_000 });
  const limits = { minCredits: 1_000, maxCredits: 10_000_000, taxRate: "0" };
  return {
    simulator, provider, providerUrl, webhookUrl, limits,
    deps: { db, provider, logger: quietLogger, limits },
    async close() {
      await simulator.close();
      await webhooks.close();
    },
  };
}

export async function paymentBooks(db: Database, orgId: string) {
  const { rows } = await db.pool.query<{ purchases: string; purchased: string; invoices: string; balance: string }>(
    `SELECT (SELECT count(*) FROM credit_transaction WHERE org_id = $1 AND type = 'PURCHASE') AS purchases,
            (SELECT COALESCE(sum(credits), 0) FROM credit_transaction WHERE org_id = $1 AND type = 'PURCHASE') AS purchased,
            (SELECT count(*) FROM invoice WHERE org_id = $1) AS invoices,
            (SELECT balance_credits FROM organisation WHERE id = $1) AS balance`,
    [orgId],
  );
  const row = rows[0]!;
  return { purchases: Number(row.purchases), purchased: Number(row.purchased), invoices: Number(row.invoices), balance: Number(row.balance) };
}
