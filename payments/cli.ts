/**
 * npm run recheck -- (--payment <id> | --stuck | --needs-attention)
 *   asks the provider about payments and settles them; prints payment, old
 *   status, new status and credits added.
 * npm run payments -- buy --org <uuid> --user <uuid> --credits <n> [--key <idempotency key>]
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { AppError } from "../core/errors.js";
import { createLogger } from "../core/logger.js";
import { runCommand } from "../core/run-command.js";
import { formatTable } from "../demo/print-table.js";
import { createDatabase } from "../prisma/database.js";
import { HttpPaymentProvider } from "./http-payment-provider.js";
import { formatMoney } from "./money.js";
import { purchaseCredits } from "./purchase-credits.js";
import { recheckPayments } from "./recheck-payments.js";

runCommand(async () => {
  const [command, ...rest] = process.argv.slice(2);
  const config = loadConfig();
  const { values } = (() => {
    try {
      return parseArgs({
        args: rest,
        options: {
          payment: { type: "string" }, stuck: { type: "boolean" }, "needs-attention": { type: "boolean" },
          org: { type: "string" }, user: { type: "string" }, credits: { type: "string" }, key: { type: "string" },
        },
      });
    } catch (error) {
      throw new AppError("INVALID_INPUT", `invalid arguments: ${(error as Error).message}`);
    }
  })();
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 2 });
  const logger = createLogger({ level: config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL, name: "payments-cli" });
  const provider = new HttpPaymentProvider({ baseUrl: config.PAYMENT_PROVIDER_URL, timeoutMs: config.PAYMENT_PROVIDER_TIMEOUT_MS });
  try {
    if (command === "recheck") {
      const chosen = [values.payment !== undefined, values.stuck === true, values["needs-attention"] === true].filter(Boolean).length;
      if (chosen !== 1) throw new AppError("INVALID_INPUT", "recheck takes exactly one of --payment <id>, --stuck, --needs-attention");
      const selection = values.payment !== undefined ? { paymentId: values.payment }
        : values.stuck ? { stuckAfterMs: config.PAYMENT_STUCK_AFTER_MS } : { needsAttention: true as const };
      const results = await recheckPayments({ db, provider, logger }, selection, { maxPendingChecks: config.PAYMENT_MAX_PENDING_CHECKS });
      console.log(formatTable(results.map((r) => ({
        payment: r.paymentId, oldStatus: r.oldStatus ?? "", newStatus: r.newStatus ?? "", creditsAdded: r.creditsAdded ?? 0,
        invoice: r.invoiceNumber ?? "", error: r.error ?? "",
      }))));
    } else if (command === "buy") {
      const purchase = await purchaseCredits(
        { db, provider, logger, limits: { minCredits: config.PURCHASE_MIN_CREDITS, maxCredits: config.PURCHASE_MAX_CREDITS, taxRate: config.TAX_RATE } },
        { orgId: values.org, userId: values.user, credits: values.credits === undefined ? undefined : Number(values.credits), idempotencyKey: values.key ?? randomUUID() },
      );
      const { totalMinor, ...shown } = purchase;
      console.log(formatTable([{ ...shown, total: formatMoney(totalMinor, purchase.currency) }]));
    } else {
      throw new AppError("INVALID_INPUT", `unknown command "${command ?? ""}": use recheck or buy`);
    }
  } finally {
    await db.close();
  }
});
