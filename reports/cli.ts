/**
 * npm run statements -- <command>
 *   send    --org <uuid> --month YYYY-MM   send (again) an org's statement for a month, now
 *   preview --org <uuid> --month YYYY-MM [--out var/preview]   write its PDFs to files, send nothing
 *   due                                    record and enqueue every statement due now (one scheduler tick)
 */
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadConfig } from "../core/config.js";
import { AppError } from "../core/errors.js";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { runCommand } from "../core/run-command.js";
import { parseInput } from "../core/validation.js";
import { orgId } from "../ledger/ledger-inputs.js";
import { monthKey } from "../ledger/org-month.js";
import { createDatabase } from "../prisma/database.js";
import { enqueueDueStatements } from "../scheduler/enqueue-due-statements.js";
import { queueSettings } from "../workers/metering-queues.js";
import { buildStatement } from "./build-statement.js";
import { deliverStatement } from "./deliver-statement.js";
import { messageDomain, recordStatement, sellerFromConfig } from "./record-statement.js";
import { renderInvoice } from "./render-invoice.js";
import { renderUsageReport } from "./render-usage-report.js";
import { createStatementQueue } from "./statement-queue.js";

const target = z.object({ org: orgId, month: monthKey, out: z.string().min(1).default("var/preview") });

runCommand(async () => {
  const [command, ...rest] = process.argv.slice(2);
  const config = loadConfig();
  const { values } = (() => {
    try {
      return parseArgs({ args: rest, options: { org: { type: "string" }, month: { type: "string" }, out: { type: "string" } } });
    } catch (error) {
      throw new AppError("INVALID_INPUT", `invalid arguments: ${(error as Error).message}`);
    }
  })();
  const db = createDatabase({ url: config.DATABASE_URL, poolSize: 4 });
  const logger = createLogger({ level: config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL, name: "statements-cli" });
  try {
    if (command === "preview") {
      const args = parseInput(target, values, "arguments");
      const view = await buildStatement(db, args.org, args.month);
      const dir = path.resolve(args.out);
      await mkdir(dir, { recursive: true });
      const files = [path.join(dir, `usage-statement-${args.org}-${args.month}.pdf`)];
      await pipeline(renderUsageReport(view), createWriteStream(files[0]!));
      for (const invoice of view.invoices) {
        files.push(path.join(dir, `${invoice.number}.pdf`));
        await pipeline(renderInvoice(invoice, sellerFromConfig(config)), createWriteStream(files.at(-1)!));
      }
      console.log(files.join("\n"));
    } else if (command === "send") {
      const args = parseInput(target, values, "arguments");
      await recordStatement(db, { orgId: args.org, month: args.month, messageDomain: messageDomain(config.MAIL_FROM) });
      const mailer = createMailer(config);
      const delivery = await deliverStatement({ db, mailer, logger, seller: sellerFromConfig(config) }, { orgId: args.org, month: args.month, resend: true });
      mailer.close();
      console.log(`${delivery.outcome}: ${delivery.messageId ?? ""} to ${(delivery.recipients ?? []).join(", ") || "nobody"}${config.SMTP_URL ? "" : ` (written to ${config.OUTBOX_DIR}/)`}`);
    } else if (command === "due") {
      const queue = createStatementQueue(queueSettings(config));
      const result = await enqueueDueStatements({ db, queue, logger }, {
        now: new Date(), sendAt: config.STATEMENT_SEND_AT, messageDomain: messageDomain(config.MAIL_FROM),
        attempts: config.STATEMENT_DELIVERY_ATTEMPTS, backoffMs: config.STATEMENT_RETRY_BACKOFF_MS,
      });
      await queue.close();
      console.log(`${result.created} statements recorded, ${result.enqueued} waiting for delivery`);
    } else {
      throw new AppError("INVALID_INPUT", `unknown command "${command ?? ""}": use send, preview or due`);
    }
  } finally {
    await db.close();
  }
});
