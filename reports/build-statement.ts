import { monthlySummary, type MonthSummary } from "../ledger/monthly-summary.js";
import { usageByEvent, type EventUsage } from "../ledger/usage-by-event.js";
import { creditsUsedBySource } from "../ledger/credits-used-by-source.js";
import { orgMonth } from "../ledger/org-month.js";
import type { Database } from "../prisma/database.js";

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

/** Everything an org's statement for a month says, read from the ledger (no rendering here). */
export async function buildStatement(db: Database, orgId: string, month: string, generatedAt: Date = new Date()): Promise<StatementView> {
  const { startsAt, endsAt, timeZone } = await orgMonth(db, orgId, month);
  const org = await db.prisma.organisation.findUniqueOrThrow({ where: { id: orgId } });
  const range = [orgId, startsAt, endsAt];
  const [totals, cards, byEvent, bySource, byType, daily, additions, invoices] = await Promise.all([
    db.pool.query<{ before: string; through: string; used: string; added: string; usages: string }>(
      `SELECT COALESCE(sum(credits) FILTER (WHERE created_at < $2), 0) AS before,
              COALESCE(sum(credits) FILTER (WHERE created_at < $3), 0) AS through,
              COALESCE(-sum(credits) FILTER (WHERE type = 'USAGE' AND created_at >= $2 AND created_at < $3), 0) AS used,
              COALESCE(sum(credits) FILTER (WHERE credits > 0 AND created_at >= $2 AND created_at < $3), 0) AS added,
              count(*) FILTER (WHERE type = 'USAGE' AND created_at >= $2 AND created_at < $3) AS usages
       FROM credit_transaction WHERE org_id = $1 AND created_at < $3`, range),
    monthlySummary(db, { orgId, asOf: startsAt, months: 4 }),
    usageByEvent(db, { orgId, from: startsAt, to: endsAt }),
    creditsUsedBySource(db, { orgId, from: startsAt, to: endsAt }),
    db.pool.query<{ usage_type: string; credits: string; runs: string }>(
      `SELECT usage_type, -sum(credits) AS credits, count(DISTINCT COALESCE(reference, id::text)) AS runs
       FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE' AND created_at >= $2 AND created_at < $3
       GROUP BY usage_type ORDER BY credits DESC`, range),
    db.pool.query<{ day: number; credits: string }>(
      `SELECT extract(day FROM created_at AT TIME ZONE $4)::int AS day, -sum(credits) AS credits
       FROM credit_transaction WHERE org_id = $1 AND type = 'USAGE' AND created_at >= $2 AND created_at < $3
       GROUP BY day`, [...range, timeZone]),
    db.pool.query<{ created_at: Date; type: string; credits: number; reference: string | null }>(
      `SELECT created_at, type, credits, reference FROM credit_transaction
       WHERE org_id = $1 AND credits > 0 AND created_at >= $2 AND created_at < $3 ORDER BY id`, range),
    db.prisma.invoice.findMany({
      where: { orgId, issuedAt: { gte: startsAt, lt: endsAt } },
      orderBy: { number: "asc" },
      include: { payment: { include: { user: { select: { name: true, email: true } } } } },
    }),
  ]);
  const t = totals.rows[0]!;
  const days = Math.round((endsAt.getTime() - startsAt.getTime()) / 86_400_000);
  const perDay = new Array<number>(days).fill(0);
  for (const row of daily.rows) perDay[row.day - 1] = Number(row.credits);
  const used = Number(t.used);
  const added = Number(t.added);
  return {
    org: { id: org.id, name: org.name, currency: org.currency, costPerCredit: org.costPerCredit?.toString() ?? null, timeZone },
    month, startsAt, endsAt, generatedAt,
    balanceAtStart: Number(t.before),
    balanceAtEnd: Number(t.through),
    creditsUsed: used,
    creditsAdded: added,
    netCredits: added - used,
    usageTransactionCount: Number(t.usages),
    cards,
    usageByType: byType.rows.map((row) => ({ usageType: row.usage_type, credits: Number(row.credits), runs: Number(row.runs) })),
    usageByEvent: byEvent,
    freeCredits: bySource.freeCredits,
    paidCredits: bySource.paidCredits,
    daily: perDay,
    additions: additions.rows.map((row) => ({ at: row.created_at, type: row.type, credits: row.credits, reference: row.reference })),
    spendMinor: org.costPerCredit === null ? null : invoices.reduce((sum, invoice) => sum + invoice.totalMinor, 0n),
    invoices: invoices.map((invoice) => ({
      number: invoice.number, issuedAt: invoice.issuedAt, credits: invoice.credits, unitPrice: invoice.unitPrice.toString(),
      currency: invoice.currency, subtotalMinor: invoice.subtotalMinor, taxRate: invoice.taxRate.toString(), taxMinor: invoice.taxMinor,
      totalMinor: invoice.totalMinor, paymentReference: invoice.paymentReference,
      buyer: { orgName: org.name, orgId: org.id, timeZone, contact: invoice.payment.user ? `${invoice.payment.user.name}` : null },
    })),
  };
}
