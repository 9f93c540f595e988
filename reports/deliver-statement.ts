import { AppError } from "../core/errors.js";
import type { Logger } from "../core/logger.js";
import type { Mailer } from "../core/mailer.js";
import { orgMonthColumns, toOrgMonth, type OrgMonthRow } from "../ledger/org-month.js";
import type { Database } from "../prisma/database.js";
import { buildStatement } from "./build-statement.js";
import { coalesceChunks } from "./coalesce-chunks.js";
import { composeStatementMail } from "./compose-statement-mail.js";
import { renderInvoice, type Seller } from "./render-invoice.js";
import { renderUsageReport } from "./render-usage-report.js";

export interface Delivery {
  outcome: "sent" | "already-sent" | "skipped";
  messageId?: string;
  recipients?: string[];
}

interface ClaimedStatementRow extends OrgMonthRow {
  id: string; attempts: number; message_id: string;
  admins: { email: string; name: string }[];
}

/**
 * Sends an org's statement for a month to its admins, once: the statement
 * row goes SENDING before the send and SENT after it. A crash in between
 * leaves SENDING, and the next try sends again with the same Message-ID (so
 * at most one duplicate, which mail clients can tell is the same message).
 * SMTP refusing for good (5xx) marks it FAILED; anything else is retried.
 */
export async function deliverStatement(
  deps: { db: Database; mailer: Mailer; logger: Logger; seller: Seller },
  request: { orgId: string; month: string; resend?: boolean },
): Promise<Delivery> {
  // One round trip claims the statement and reads what sending it needs from the org: its admins and its month.
  const claimed = await deps.db.pool.query<ClaimedStatementRow>(
    `WITH claimed AS (
       UPDATE statement SET status = 'SENDING', attempts = attempts + 1, updated_at = now()
       WHERE org_id = $1 AND month = $2 AND (status IN ('PENDING', 'SENDING') OR $3)
       RETURNING id, org_id, attempts, message_id)
     SELECT c.id, c.attempts, c.message_id, ${orgMonthColumns("$2")},
            (SELECT COALESCE(json_agg(json_build_object('email', u.email, 'name', u.name) ORDER BY u.email), '[]')
             FROM app_user u WHERE u.org_id = c.org_id AND u.role = 'ADMIN') AS admins
     FROM claimed c JOIN organisation o ON o.id = c.org_id`,
    [request.orgId, request.month, request.resend === true],
  );
  const statement = claimed.rows[0];
  if (!statement) {
    const existing = await deps.db.prisma.statement.findUnique({ where: { orgId_month: { orgId: request.orgId, month: request.month } } });
    if (!existing) throw new AppError("INVALID_INPUT", `no statement for organisation ${request.orgId} and month ${request.month}`);
    return { outcome: existing.status === "SKIPPED" ? "skipped" : "already-sent", messageId: existing.messageId, recipients: existing.recipients };
  }
  const log = deps.logger.child({ orgId: request.orgId, month: request.month, statementId: statement.id });
  const admins = statement.admins;
  if (admins.length === 0) {
    await deps.db.pool.query("UPDATE statement SET status = 'SKIPPED', failure_reason = 'the organisation has no admin', updated_at = now() WHERE id = $1", [statement.id]);
    log.warn("statement skipped: the organisation has no admin to send it to");
    return { outcome: "skipped" };
  }
  const view = await buildStatement(deps.db, request.orgId, request.month, new Date(), toOrgMonth(statement));
  const mail = composeStatementMail(view);
  // A resend on demand is a new message; a retry of an interrupted send is the same one.
  const messageId = request.resend ? statement.message_id.replace(/@/, `.resend-${statement.attempts}@`) : statement.message_id;
  const recipients = admins.map((admin) => admin.email);
  try {
    await deps.mailer.send({
      messageId,
      to: admins.map((admin) => ({ name: admin.name, address: admin.email })),
      subject: mail.subject,
      text: mail.text,
      html: mail.html,
      attachments: [
        { filename: `usage-statement-${request.month}.pdf`, content: coalesceChunks(renderUsageReport(view)), contentType: "application/pdf" },
        ...view.invoices.map((invoice) => ({ filename: `${invoice.number}.pdf`, content: coalesceChunks(renderInvoice(invoice, deps.seller)), contentType: "application/pdf" })),
      ],
    });
  } catch (error) {
    const code = (error as { responseCode?: number }).responseCode;
    if (code !== undefined && code >= 500) {
      await deps.db.pool.query("UPDATE statement SET status = 'FAILED', failure_reason = $2, updated_at = now() WHERE id = $1",
        [statement.id, `SMTP ${code}: ${(error as Error).message}`.slice(0, 1000)]);
      throw new AppError("STATEMENT_REJECTED", `the mail server refused the statement for good (${code}): ${(error as Error).message}`, { cause: error });
    }
    throw new AppError("MAIL_UNAVAILABLE", `statement not sent yet: ${(error as Error).message}`, { cause: error });
  }
  await deps.db.pool.query(
    "UPDATE statement SET status = 'SENT', sent_at = now(), recipients = $2, failure_reason = NULL, updated_at = now() WHERE id = $1",
    [statement.id, recipients],
  );
  log.info({ recipients: recipients.length, invoices: view.invoices.length, messageId }, "statement sent");
  return { outcome: "sent", messageId, recipients };
}
