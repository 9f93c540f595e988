import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../core/errors.js";
import { monthKey, orgMonth } from "../ledger/org-month.js";
import { formatMoney, trimDecimal } from "../payments/money.js";
import { purchaseCredits, purchaseCreditsInput } from "../payments/purchase-credits.js";
import { recheckPayments, type RecheckRow } from "../payments/recheck-payments.js";
import { buildStatement } from "../reports/build-statement.js";
import { findInvoice } from "../reports/find-invoice.js";
import { renderInvoice } from "../reports/render-invoice.js";
import { renderUsageReport } from "../reports/render-usage-report.js";
import { authoriseOnOrg } from "./access.js";
import type { ApiDependencies } from "./api-context.js";
import { commonErrors, errorResponse, idempotencyHeaders, iso, orgParams, pageLimit } from "./api-schemas.js";
import { decodeCursor, keysetPage } from "./page-cursor.js";

const paymentStatuses = ["PENDING", "SUCCEEDED", "FAILED", "NEEDS_ATTENTION"] as const;

const money = { currency: z.string(), totalMinor: z.string(), total: z.string() };

const payment = z.object({
  id: z.string(), status: z.enum(paymentStatuses), credits: z.number().int(), unitPrice: z.string(), ...money,
  createdAt: z.string(), settledAt: z.string().nullable(), failureReason: z.string().nullable(),
  invoiceId: z.string().nullable(), invoiceNumber: z.string().nullable(),
}).meta({ id: "Payment" });

const invoice = z.object({
  id: z.string(), number: z.string(), issuedAt: z.string(), credits: z.number().int(), ...money, paymentId: z.string(),
}).meta({ id: "Invoice" });

export const recheckRow = z.object({
  paymentId: z.string(),
  oldStatus: z.enum(paymentStatuses).optional(),
  newStatus: z.enum(paymentStatuses).optional(),
  creditsAdded: z.number().int().optional(),
  invoiceNumber: z.string().nullable().optional(),
  error: z.string().optional(),
}).meta({ id: "Recheck" });

export const recheckRows = (rows: RecheckRow[]) => ({ rechecked: rows });

const pdf = { produces: ["application/pdf"] };

/** The Billing & Transactions tab: payments, purchases, rechecks, invoices, usage reports. */
export const billingRoutes: FastifyPluginAsyncZod<{ deps: ApiDependencies }> = async (app, { deps }) => {
  const { db } = deps;
  const limits = { minCredits: deps.config.PURCHASE_MIN_CREDITS, maxCredits: deps.config.PURCHASE_MAX_CREDITS, taxRate: deps.config.TAX_RATE };

  app.get("/orgs/:orgId/payments", {
    schema: {
      summary: "Payments with their status, newest first",
      tags: ["billing"],
      params: orgParams,
      querystring: z.strictObject({ status: z.enum(paymentStatuses).optional(), limit: pageLimit, cursor: z.string().max(200).optional() }),
      response: { 200: z.object({ items: z.array(payment), nextCursor: z.string().nullable() }), ...commonErrors },
    },
  }, async (request) => {
    const { orgId } = request.params;
    await authoriseOnOrg(db, request, orgId, "billing:read");
    const after = request.query.cursor ? decodeCursor(request.query.cursor) : null;
    const { rows } = await db.pool.query<{
      id: string; status: (typeof paymentStatuses)[number]; credits: number; unit_price: string; currency: string; total_minor: string;
      created_at: Date; settled_at: Date | null; failure_reason: string | null; invoice_id: string | null; invoice_number: string | null;
    }>(
      `SELECT p.id, p.status, p.credits, p.unit_price::text, p.currency, p.total_minor, p.created_at, p.settled_at, p.failure_reason,
              i.id AS invoice_id, i.number AS invoice_number
       FROM payment p LEFT JOIN invoice i ON i.payment_id = p.id
       WHERE p.org_id = $1 AND ($2::payment_status IS NULL OR p.status = $2)
         AND ($3::timestamptz IS NULL OR (p.created_at, p.id) < ($3, $4::uuid))
       ORDER BY p.created_at DESC, p.id DESC LIMIT $5`,
      [orgId, request.query.status ?? null, after?.at ?? null, after?.id ?? null, request.query.limit + 1],
    );
    const { page, nextCursor } = keysetPage(rows, request.query.limit, (row) => ({ at: row.created_at, id: row.id }));
    return {
      nextCursor,
      items: page.map((row) => ({
        id: row.id, status: row.status, credits: row.credits, unitPrice: trimDecimal(row.unit_price), currency: row.currency,
        totalMinor: row.total_minor, total: formatMoney(BigInt(row.total_minor), row.currency),
        createdAt: iso(row.created_at), settledAt: row.settled_at ? iso(row.settled_at) : null, failureReason: row.failure_reason,
        invoiceId: row.invoice_id, invoiceNumber: row.invoice_number,
      })),
    };
  });

  app.post("/orgs/:orgId/purchases", {
    schema: {
      summary: "Buy credits at the org's cost per credit (admins); the Idempotency-Key makes a retry safe",
      tags: ["billing"],
      params: orgParams,
      headers: idempotencyHeaders,
      body: purchaseCreditsInput(limits).pick({ credits: true }),
      response: {
        200: z.object({ paymentId: z.string(), status: z.enum(paymentStatuses), credits: z.number().int(), ...money, invoiceNumber: z.string().nullable(), replayed: z.boolean() }).meta({ id: "Purchase" }),
        201: z.object({ paymentId: z.string(), status: z.enum(paymentStatuses), credits: z.number().int(), ...money, invoiceNumber: z.string().nullable(), replayed: z.boolean() }),
        409: errorResponse,
        502: errorResponse,
        ...commonErrors,
      },
    },
  }, async (request, reply) => {
    const { orgId } = request.params;
    const principal = await authoriseOnOrg(db, request, orgId, "credits:buy");
    // Only an org's admin reaches here ("credits:buy"); the check narrows the type to a user of the org.
    if (principal.role !== "ADMIN") throw new AppError("PERMISSION_DENIED", "only the organisation's admins can buy credits");
    const purchase = await purchaseCredits({ db, provider: deps.provider, logger: deps.logger.child({ requestId: request.id }), limits }, {
      orgId, userId: principal.userId, credits: request.body.credits, idempotencyKey: request.headers["idempotency-key"],
    });
    return reply.code(purchase.replayed ? 200 : 201).send({
      ...purchase, totalMinor: purchase.totalMinor.toString(), total: formatMoney(purchase.totalMinor, purchase.currency),
    });
  });

  app.post("/orgs/:orgId/payments/:paymentId/recheck", {
    schema: {
      summary: "Ask the provider how a payment ended, and settle it",
      tags: ["billing"],
      params: z.strictObject({ orgId: orgParams.shape.orgId, paymentId: z.uuid({ error: "must be a payment id (UUID)" }) }),
      response: { 200: recheckRow, 502: errorResponse, ...commonErrors },
    },
  }, async (request) => {
    const { orgId, paymentId } = request.params;
    await authoriseOnOrg(db, request, orgId, "payments:recheck");
    const { rowCount } = await db.pool.query("SELECT 1 FROM payment WHERE id = $1 AND org_id = $2", [paymentId, orgId]);
    if (rowCount === 0) throw new AppError("PAYMENT_NOT_FOUND", `payment ${paymentId} not found`);
    const [row] = await recheckPayments({ db, provider: deps.provider, logger: deps.logger.child({ requestId: request.id }) }, { paymentId }, { maxPendingChecks: deps.config.PAYMENT_MAX_PENDING_CHECKS });
    if (row?.error) throw new AppError("PROVIDER_UNAVAILABLE", row.error);
    return row!;
  });

  app.post("/orgs/:orgId/payments/recheck-stuck", {
    schema: {
      summary: "Recheck the org's stuck payments: pending for too long, or needing attention",
      tags: ["billing"],
      params: orgParams,
      response: { 200: z.object({ rechecked: z.array(recheckRow) }), ...commonErrors },
    },
  }, async (request) => {
    const { orgId } = request.params;
    await authoriseOnOrg(db, request, orgId, "payments:recheck");
    const rechecks = { db, provider: deps.provider, logger: deps.logger.child({ requestId: request.id }) };
    const options = { maxPendingChecks: deps.config.PAYMENT_MAX_PENDING_CHECKS, limit: 100 };
    return recheckRows([
      ...(await recheckPayments(rechecks, { stuckAfterMs: deps.config.PAYMENT_STUCK_AFTER_MS, orgId }, options)),
      ...(await recheckPayments(rechecks, { needsAttention: true, orgId }, options)),
    ]);
  });

  app.get("/orgs/:orgId/invoices", {
    schema: {
      summary: "Invoices, newest first",
      tags: ["billing"],
      params: orgParams,
      querystring: z.strictObject({ limit: pageLimit, cursor: z.string().max(200).optional() }),
      response: { 200: z.object({ items: z.array(invoice), nextCursor: z.string().nullable() }), ...commonErrors },
    },
  }, async (request) => {
    const { orgId } = request.params;
    await authoriseOnOrg(db, request, orgId, "billing:read");
    const after = request.query.cursor ? decodeCursor(request.query.cursor) : null;
    const { rows } = await db.pool.query<{
      id: string; number: string; issued_at: Date; credits: number; currency: string; total_minor: string; payment_id: string;
    }>(
      `SELECT id, number, issued_at, credits, currency, total_minor, payment_id FROM invoice
       WHERE org_id = $1 AND ($2::timestamptz IS NULL OR (issued_at, id) < ($2, $3::uuid))
       ORDER BY issued_at DESC, id DESC LIMIT $4`,
      [orgId, after?.at ?? null, after?.id ?? null, request.query.limit + 1],
    );
    const { page, nextCursor } = keysetPage(rows, request.query.limit, (row) => ({ at: row.issued_at, id: row.id }));
    return {
      nextCursor,
      items: page.map((row) => ({
        id: row.id, number: row.number, issuedAt: iso(row.issued_at), credits: row.credits, currency: row.currency,
        totalMinor: row.total_minor, total: formatMoney(BigInt(row.total_minor), row.currency), paymentId: row.payment_id,
      })),
    };
  });

  app.get("/orgs/:orgId/invoices/:invoiceId/pdf", {
    schema: {
      summary: "An invoice as PDF",
      tags: ["billing"],
      params: z.strictObject({ orgId: orgParams.shape.orgId, invoiceId: z.uuid({ error: "must be an invoice id (UUID)" }) }),
      ...pdf,
    },
  }, async (request, reply) => {
    const { orgId, invoiceId } = request.params;
    await authoriseOnOrg(db, request, orgId, "billing:read");
    const view = await findInvoice(db, orgId, invoiceId);
    return reply.type("application/pdf")
      .header("content-disposition", `attachment; filename="${view.number}.pdf"`)
      .send(renderInvoice(view, deps.seller));
  });

  app.get("/orgs/:orgId/statements/:month/usage-report.pdf", {
    schema: {
      summary: "The usage report of a month (YYYY-MM, in the org's time zone) as PDF",
      tags: ["billing"],
      params: z.strictObject({ orgId: orgParams.shape.orgId, month: monthKey }),
      ...pdf,
    },
  }, async (request, reply) => {
    const { orgId, month } = request.params;
    await authoriseOnOrg(db, request, orgId, "billing:read");
    const { startsAt } = await orgMonth(db, orgId, month);
    if (startsAt.getTime() > Date.now()) throw new AppError("INVALID_INPUT", `params.month: ${month} has not started yet`);
    const view = await buildStatement(db, orgId, month);
    return reply.type("application/pdf")
      .header("content-disposition", `attachment; filename="usage-report-${month}.pdf"`)
      .send(renderUsageReport(view));
  });
};
