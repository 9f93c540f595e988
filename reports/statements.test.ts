import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMailer } from "../core/mailer.js";
import { grantCredits, captureReservation, reserveCredits } from "../ledger/index.js";
import { createUser } from "../organisations/create-user.js";
import { settlePayment } from "../payments/settle-payment.js";
import { createTestDatabase, type TestDatabase } from "../test/test-database.js";
import { backdateInvoice, backdateTransaction, makeOrg } from "../test/factories.js";
import { quietLogger } from "../test/metering-harness.js";
import { freePort } from "../test/own-servers.js";
import { pdfText } from "../test/pdf-text.js";
import { startSmtpCapture, type SmtpCapture } from "../test/smtp-capture.js";
import { deliverStatement } from "./deliver-statement.js";

const seller = { name: "Credits Platform Ltd", addressLines: ["1 Harbour Street", "Dublin"], taxId: "IE1234567X" };
let db: TestDatabase;
let smtp: SmtpCapture;
beforeAll(async () => {
  db = await createTestDatabase();
  smtp = await startSmtpCapture();
});
afterAll(async () => {
  await smtp.close();
  await db.drop();
});

const mailerFor = (url: string) => createMailer({ SMTP_URL: url, OUTBOX_DIR: "var/test-outbox", MAIL_FROM: "Credits <statements@credits.test>" });

async function useAt(orgId: string, eventId: number, key: string, credits: number, at: Date) {
  await reserveCredits(db, { orgId, key, credits, usageType: "PHOTO_PROCESSING", eventId, reference: key, ttlMs: 60_000 });
  const { transactionId } = await captureReservation(db, { orgId, key, creditsUsed: credits });
  await backdateTransaction(db, transactionId!, at);
}

/** A statement row as the scheduler records it. */
async function recordStatement(orgId: string, month: string) {
  await db.pool.query("INSERT INTO statement (org_id, month, message_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    [orgId, month, `<statement.${orgId}.${month}@credits.test>`]);
}

/** An org with two admins and an operator, usage and a paid invoice in October 2026 (Berlin). */
async function orgWithOctober(name = "Northlight Photo") {
  const made = await makeOrg(db, { name, timeZone: "Europe/Berlin" });
  await createUser(db, { orgId: made.org.id, email: `second-${made.org.id}@example.test`, name: "Bo Admin", role: "ADMIN" });
  await createUser(db, { orgId: made.org.id, email: `operator-${made.org.id}@example.test`, name: "Oli Operator", role: "OPERATOR" });
  const grant = await grantCredits(db, { orgId: made.org.id, type: "FREE_CREDITS", credits: 500, idempotencyKey: "welcome" });
  await backdateTransaction(db, grant.transactionId, new Date("2026-09-15T10:00:00Z"));
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO payment (org_id, user_id, idempotency_key, credits, unit_price, currency, subtotal_minor, tax_rate, tax_minor, total_minor, provider_intent_id)
     VALUES ($1, $2, 'p1', 2000, 0.05, 'EUR', 10000, 0, 0, 10000, $3) RETURNING id`, [made.org.id, made.admin.id, `pi_${made.org.id.slice(0, 8)}`]);
  const settled = await settlePayment(db, { paymentId: rows[0]!.id, succeeded: true, reference: `pi_${made.org.id.slice(0, 8)}`, source: "webhook" });
  const purchase = await db.pool.query<{ id: string }>("SELECT id FROM credit_transaction WHERE org_id = $1 AND type = 'PURCHASE'", [made.org.id]);
  await backdateTransaction(db, purchase.rows[0]!.id, new Date("2026-10-02T09:00:00Z"));
  await backdateInvoice(db, settled.invoiceNumber!, new Date("2026-10-02T09:00:00Z"));
  await useAt(made.org.id, made.event.id, "oct-1", 300, new Date("2026-10-05T10:00:00Z"));
  await useAt(made.org.id, made.event.id, "oct-2", 120, new Date("2026-10-31T22:30:00Z")); // 23:30 in Berlin: still October
  await useAt(made.org.id, made.event.id, "nov-1", 999, new Date("2026-10-31T23:30:00Z")); // 00:30 on 1 November in Berlin
  return { ...made, invoiceNumber: settled.invoiceNumber! };
}

describe("monthly statement delivery", () => {
  it("mails the org's admins (not operators) one email with the usage PDF and the month's invoices, matching the ledger", async () => {
    const { org, admin, invoiceNumber } = await orgWithOctober();
    await recordStatement(org.id, "2026-10");
    const before = smtp.messages.length;
    const delivery = await deliverStatement({ db, mailer: mailerFor(smtp.url), logger: quietLogger, seller }, { orgId: org.id, month: "2026-10" });
    expect(delivery).toMatchObject({ outcome: "sent", messageId: `<statement.${org.id}.2026-10@credits.test>` });

    expect(smtp.messages.length).toBe(before + 1);
    const mail = smtp.messages[before]!;
    expect(smtp.recipients[before]!.sort()).toEqual([admin.email, `second-${org.id}@example.test`].sort());
    expect(mail.subject).toBe("Northlight Photo: usage statement for October 2026");
    expect(mail.text).toContain("Credits used: 420");
    expect(mail.attachments.map((a) => a.filename)).toEqual(["usage-statement-2026-10.pdf", `${invoiceNumber}.pdf`]);

    const report = await pdfText(mail.attachments[0]!.content);
    expect(report.text).toContain("Usage statement — October 2026");
    expect(report.text).toMatch(/Balance at the start of the month 500/);
    expect(report.text).toMatch(/Balance at the end of the month 2,080/);
    expect(report.text).toMatch(/Credits used 420/);
    expect(report.text).toMatch(/Credits added 2,000/);
    expect(report.text).toMatch(/Usage transactions 2/);
    expect(report.text).toMatch(/Photo Processing 420 2/);
    expect(report.text).toMatch(/Harbour Marathon 2026 \d+ 420 2/);
    expect(report.text).toContain("Spend this month: €100.00 (1 invoice, attached).");
    expect(report.text).toMatch(/420 were free credits and 0 paid credits/);
    const invoice = await pdfText(mail.attachments[1]!.content);
    for (const expected of [invoiceNumber, "PAID", `pi_${org.id.slice(0, 8)}`, "2,000", "0.05 EUR", "€100.00", "Credits Platform Ltd", "Northlight Photo"]) {
      expect(invoice.text).toContain(expected);
    }
  });

  it("is sent once: a second delivery of the same statement sends nothing", async () => {
    const { org } = await orgWithOctober("Once Only");
    await recordStatement(org.id, "2026-10");
    const before = smtp.messages.length;
    const deps = { db, mailer: mailerFor(smtp.url), logger: quietLogger, seller };
    await deliverStatement(deps, { orgId: org.id, month: "2026-10" });
    expect(await deliverStatement(deps, { orgId: org.id, month: "2026-10" })).toMatchObject({ outcome: "already-sent" });
    expect(smtp.messages.length).toBe(before + 1);
  });

  it("a crash after sending but before recording sends once more, with the same Message-ID", async () => {
    const { org } = await orgWithOctober("Crashy Studio");
    await recordStatement(org.id, "2026-10");
    const before = smtp.messages.length;
    const deps = { db, mailer: mailerFor(smtp.url), logger: quietLogger, seller };
    await deliverStatement(deps, { orgId: org.id, month: "2026-10" });
    // The process died between the SMTP server's 250 and our SENT: the row says SENDING.
    await db.pool.query("UPDATE statement SET status = 'SENDING', sent_at = NULL WHERE org_id = $1", [org.id]);
    await deliverStatement(deps, { orgId: org.id, month: "2026-10" });
    const sent = smtp.messages.slice(before);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.messageId).toBe(sent[1]!.messageId);
    expect((await db.prisma.statement.findFirstOrThrow({ where: { orgId: org.id } })).status).toBe("SENT");
  });

  it("SMTP down: a retryable error and nothing recorded as sent; SMTP up again: delivered once", async () => {
    const { org } = await orgWithOctober("Patient Studio");
    await recordStatement(org.id, "2026-10");
    const port = await freePort();
    const deps = { db, mailer: mailerFor(`smtp://127.0.0.1:${port}`), logger: quietLogger, seller };
    await expect(deliverStatement(deps, { orgId: org.id, month: "2026-10" })).rejects.toMatchObject({ code: "MAIL_UNAVAILABLE", retryable: true });
    expect((await db.prisma.statement.findFirstOrThrow({ where: { orgId: org.id } })).status).toBe("SENDING");
    const late = await startSmtpCapture({ port });
    try {
      expect(await deliverStatement(deps, { orgId: org.id, month: "2026-10" })).toMatchObject({ outcome: "sent" });
      expect(late.messages).toHaveLength(1);
    } finally {
      await late.close();
    }
  });

  it("a permanent refusal (5xx) marks the statement failed with the reason", async () => {
    const { org } = await orgWithOctober("Refused Studio");
    await recordStatement(org.id, "2026-10");
    const refusing = await startSmtpCapture({ reject: { code: 554, message: "mailbox unavailable" } });
    try {
      await expect(deliverStatement({ db, mailer: mailerFor(refusing.url), logger: quietLogger, seller }, { orgId: org.id, month: "2026-10" }))
        .rejects.toMatchObject({ code: "STATEMENT_REJECTED", retryable: false });
      const statement = await db.prisma.statement.findFirstOrThrow({ where: { orgId: org.id } });
      expect(statement.status).toBe("FAILED");
      expect(statement.failureReason).toMatch(/SMTP 554/);
    } finally {
      await refusing.close();
    }
  });

  it("an org with no admin is skipped, not an error", async () => {
    const { org, admin } = await makeOrg(db, { name: "Lonely Studio" });
    await db.pool.query("UPDATE app_user SET role = 'OPERATOR' WHERE id = $1", [admin.id]);
    await recordStatement(org.id, "2026-10");
    expect(await deliverStatement({ db, mailer: mailerFor(smtp.url), logger: quietLogger, seller }, { orgId: org.id, month: "2026-10" }))
      .toMatchObject({ outcome: "skipped" });
    expect((await db.prisma.statement.findFirstOrThrow({ where: { orgId: org.id } })).status).toBe("SKIPPED");
  });
});
