import type { Database } from "../prisma/database.js";
import type { Seller } from "./render-invoice.js";

/** The seller block of invoices, from the configuration. */
export function sellerFromConfig(config: { SELLER_NAME: string; SELLER_ADDRESS: string; SELLER_TAX_ID: string }): Seller {
  return { name: config.SELLER_NAME, addressLines: config.SELLER_ADDRESS.split(";").map((line) => line.trim()), taxId: config.SELLER_TAX_ID };
}

/** The domain of our Message-IDs: the sender's. */
export function messageDomain(mailFrom: string): string {
  return mailFrom.match(/@([^>\s]+)/)?.[1] ?? "credits.local";
}

/**
 * Records an org's statement for a month, if it is not recorded yet, with its
 * Message-ID fixed now (the scheduler's fan-out writes the same form in bulk).
 */
export async function recordStatement(db: Database, request: { orgId: string; month: string; messageDomain: string }): Promise<void> {
  await db.pool.query(
    `INSERT INTO statement (org_id, month, message_id) VALUES ($1::uuid, $2, '<statement.' || $1::text || '.' || $2 || '@' || $3 || '>')
     ON CONFLICT (org_id, month) DO NOTHING`,
    [request.orgId, request.month, request.messageDomain],
  );
}
