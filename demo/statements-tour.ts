import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Config } from "../core/config.js";
import { createLogger } from "../core/logger.js";
import { createMailer } from "../core/mailer.js";
import { previousOrgMonth } from "../ledger/org-month.js";
import type { Database } from "../prisma/database.js";
import { buildStatement } from "../reports/build-statement.js";
import { deliverStatement } from "../reports/deliver-statement.js";
import { renderInvoice } from "../reports/render-invoice.js";
import { renderUsageReport } from "../reports/render-usage-report.js";
import { messageDomain, recordStatement, sellerFromConfig } from "../reports/record-statement.js";
import { formatTable } from "./print-table.js";

/**
 * Part 4: last month's statement for the demo's orgs, delivered as the
 * scheduler's job would (to SMTP_URL, or as .eml files in the outbox), and
 * this month's PDFs written out so the report shows the demo's usage.
 */
export async function tourStatements(db: Database, config: Config, orgIds: string[]): Promise<void> {
  const mailer = createMailer(config);
  const logger = createLogger({ level: "error", name: "demo-statements" });
  const seller = sellerFromConfig(config);
  const previewDir = path.resolve("var/demo-statements");
  await mkdir(previewDir, { recursive: true });
  const rows = [];
  try {
    for (const orgId of orgIds) {
      const month = await previousOrgMonth(db, orgId);
      await recordStatement(db, { orgId, month, messageDomain: messageDomain(config.MAIL_FROM) });
      const delivery = await deliverStatement({ db, mailer, logger, seller }, { orgId, month });
      const current = await buildStatement(db, orgId, new Date().toISOString().slice(0, 7));
      const report = path.join(previewDir, `usage-statement-${orgId}-${current.month}.pdf`);
      await pipeline(renderUsageReport(current), createWriteStream(report));
      for (const invoice of current.invoices) {
        await pipeline(renderInvoice(invoice, seller), createWriteStream(path.join(previewDir, `${invoice.number}.pdf`)));
      }
      rows.push({ org: current.org.name, lastMonth: month, delivery: delivery.outcome, to: (delivery.recipients ?? []).join(", "), thisMonthPdf: path.relative(process.cwd(), report), invoices: current.invoices.map((i) => i.number).join(" ") });
    }
  } finally {
    mailer.close();
  }
  console.log(`\n== Monthly statements: last month's delivered ${config.SMTP_URL ? `over ${new URL(config.SMTP_URL).host}` : `as .eml files in ${config.OUTBOX_DIR}/`}; this month's PDFs in ${path.relative(process.cwd(), previewDir)}/`);
  console.log(formatTable(rows));
}
