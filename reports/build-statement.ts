import { monthlySummary, type MonthSummary } from "../ledger/monthly-summary.js";
import { usageByEvent, type EventUsage } from "../ledger/usage-by-event.js";
import { creditsUsedBySource } from "../ledger/credits-used-by-source.js";
import { orgMonth, type OrgMonth } from "../ledger/org-month.js";
import { trimDecimal } from "../payments/money.js";
import type { Database } from "../prisma/database.js";
import { invoiceColumns, toInvoiceView, type InvoiceRow } from "./find-invoice.js";

export interface InvoiceView {
  number: string;
  issuedAt: Date;
  credits: number;
  unitPrice: string;
  currency: string;
  subtotalMinor: bigint;
  taxRate: string;
  taxMinor: bigint;
  totalMinor: bigint;
  paymentReference: string;
  buyer: { orgName: string; orgId: string; timeZone: string; contact: string | null };
}

export interface StatementView {
  org: { id: string; name: string; currency: string; costPerCredit: string | null; timeZone: string };
  month: string;
  startsAt: Date;
  endsAt: Date;
  generatedAt: Date;
  balanceAtStart: number;
  balanceAtEnd: number;
  creditsUsed: number;
  creditsAdded: number;
  netCredits: number;
  usageTransactionCount: number;
  /** The month and the three before it, newest first. */
  cards: MonthSummary[];
  usageByType: { usageType: string; credits: number; runs: number }[];
  usageByEvent: EventUsage[];
  freeCredits: number;
  paidCredits: number;
  /** Credits used on each day of the month (1..28-31), in the org's zone. */
  daily: number[];
  additions: { at: Date; type: string; credits: number; reference: string | null }[];
  /** What the month's invoices add up to, in minor units; null for custom billing. */
  spendMinor: bigint | null;
  invoices: InvoiceView[];
}

/**
 * Everything an org's statement for a month says, read from the ledger (no
 * rendering here). `known` is the org's month when the caller read it already.
 */
export async function buildStatement(
  db: Database, orgId: string, month: string, generatedAt: Date = new Date(), known?: OrgMonth,
): Promise<StatementView> {
  const { startsAt, endsAt, timeZone, org: orgRow } = known ?? await orgMonth(db, orgId, month);
  const range = [orgId, startsAt, endsAt];
  // Plain SQL, few statements: a month-end run builds thousands of these.
  const [monthFigures, cards, byEvent, bySource, invoiceRows] = await Promise.all([
    db.pool.query<{
      before: string; through: string; used: string; added: string; usages: string;
      by_type: { usage_type: string; credits: number; runs: number }[] | null;
      daily: { day: number; credits: number }[] | null;
      additions: { created_at: string; type: string; credits: number; reference: string | null }[] | null;
    }>(
      `WITH month AS (
         SELECT type, usage_type, credits, reference, id, created_at FROM credit_transaction
         WHERE org_id = $1 AND created_at >= $2 AND created_at < $3)
       SELECT ledger_balance_at($1, $2) AS before,
              ledger_balance_at($1, $3) AS through,
              (SELECT COALESCE(-sum(credits) FILTER (WHERE type = 'USAGE'), 0) FROM month) AS used,
              (SELECT COALESCE(sum(credits) FILTER (WHERE credits > 0), 0) FROM month) AS added,
              (SELECT count(*) FILTER (WHERE type = 'USAGE') FROM month) AS usages,
              (SELECT json_agg(t ORDER BY t.credits DESC) FROM (
                 SELECT usage_type, -sum(credits) AS credits, count(DISTINCT COALESCE(reference, id::text)) AS runs
                 FROM month WHERE type = 'USAGE' GROUP BY usage_type) AS t) AS by_type,
              (SELECT json_agg(d) FROM (
                 SELECT extract(day FROM created_at AT TIME ZONE $4)::int AS day, -sum(credits) AS credits
                 FROM month WHERE type = 'USAGE' GROUP BY 1) AS d) AS daily,
              (SELECT json_agg(a ORDER BY a.id) FROM (
                 SELECT id, created_at, type, credits, reference FROM month WHERE credits > 0) AS a) AS additions`,
      [...range, timeZone]),
    monthlySummary(db, { orgId, asOf: startsAt, months: 4 }),
    usageByEvent(db, { orgId, from: startsAt, to: endsAt }),
    creditsUsedBySource(db, { orgId, from: startsAt, to: endsAt }),
    db.pool.query<InvoiceRow & { buyer_contact: string | null }>(
      `SELECT ${invoiceColumns}, u.name AS buyer_contact
       FROM invoice i JOIN payment p ON p.id = i.payment_id LEFT JOIN app_user u ON u.id = p.user_id
       WHERE i.org_id = $1 AND i.issued_at >= $2 AND i.issued_at < $3 ORDER BY i.number`, range),
  ]);
  const org = { id: orgId, ...orgRow };
  const invoices = invoiceRows.rows.map((row) => toInvoiceView(row, { orgName: org.name, orgId, timeZone, contact: row.buyer_contact }));
  const t = monthFigures.rows[0]!;
  const days = Math.round((endsAt.getTime() - startsAt.getTime()) / 86_400_000);
  const perDay = new Array<number>(days).fill(0);
  for (const row of t.daily ?? []) perDay[row.day - 1] = Number(row.credits);
  const used = Number(t.used);
  const added = Number(t.added);
  return {
    org: { ...org, costPerCredit: org.costPerCredit === null ? null : trimDecimal(org.costPerCredit), timeZone },
    month, startsAt, endsAt, generatedAt,
    balanceAtStart: Number(t.before),
    balanceAtEnd: Number(t.through),
    creditsUsed: used,
    creditsAdded: added,
    netCredits: added - used,
    usageTransactionCount: Number(t.usages),
    cards,
    usageByType: (t.by_type ?? []).map((row) => ({ usageType: row.usage_type, credits: Number(row.credits), runs: Number(row.runs) })),
    usageByEvent: byEvent,
    freeCredits: bySource.freeCredits,
    paidCredits: bySource.paidCredits,
    daily: perDay,
    additions: (t.additions ?? []).map((row) => ({ at: new Date(row.created_at), type: row.type, credits: row.credits, reference: row.reference })),
    spendMinor: org.costPerCredit === null ? null : invoices.reduce((sum, invoice) => sum + invoice.totalMinor, 0n),
    invoices,
  };
}
