import { AppError } from "../core/errors.js";
import { trimDecimal } from "../payments/money.js";
import type { Database } from "../prisma/database.js";
import type { InvoiceView } from "./build-statement.js";

/** The invoice columns a view is made of, as SQL reads them (`unit_price::text`, `tax_rate::text`). */
export const invoiceColumns = `i.number, i.issued_at, i.credits, i.unit_price::text, i.currency, i.subtotal_minor, i.tax_rate::text, i.tax_minor,
  i.total_minor, i.payment_reference`;

export interface InvoiceRow {
  number: string; issued_at: Date; credits: number; unit_price: string; currency: string; subtotal_minor: string; tax_rate: string;
  tax_minor: string; total_minor: string; payment_reference: string;
}

export function toInvoiceView(row: InvoiceRow, buyer: InvoiceView["buyer"]): InvoiceView {
  return {
    number: row.number, issuedAt: row.issued_at, credits: row.credits, unitPrice: trimDecimal(row.unit_price), currency: row.currency,
    subtotalMinor: BigInt(row.subtotal_minor), taxRate: trimDecimal(row.tax_rate), taxMinor: BigInt(row.tax_minor),
    totalMinor: BigInt(row.total_minor), paymentReference: row.payment_reference, buyer,
  };
}

/** One invoice of an org, ready to render; another org's invoice is not found. */
export async function findInvoice(db: Database, orgId: string, invoiceId: string): Promise<InvoiceView> {
  const { rows } = await db.pool.query<InvoiceRow & { buyer_contact: string | null; org_name: string; time_zone: string }>(
    `SELECT ${invoiceColumns}, u.name AS buyer_contact, o.name AS org_name, o.time_zone
     FROM invoice i JOIN organisation o ON o.id = i.org_id JOIN payment p ON p.id = i.payment_id LEFT JOIN app_user u ON u.id = p.user_id
     WHERE i.id = $1 AND i.org_id = $2`,
    [invoiceId, orgId],
  );
  const row = rows[0];
  if (!row) throw new AppError("INVOICE_NOT_FOUND", `invoice ${invoiceId} not found`);
  return toInvoiceView(row, { orgName: row.org_name, orgId, timeZone: row.time_zone, contact: row.buyer_contact });
}
