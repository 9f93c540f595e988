import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { toCredits } from "./call-ledger-function.js";
import * as input from "./ledger-inputs.js";

/** The Credits page's two tabs. */
export const transactionTabs = {
  usage: ["USAGE"],
  purchases: ["PURCHASE", "FREE_CREDITS", "ADMIN_GRANT", "REFUND"],
} as const;

const transactionType = z.enum(["USAGE", "PURCHASE", "ADMIN_GRANT", "FREE_CREDITS", "REFUND"]);

export const listTransactionsInput = z.strictObject({
  orgId: input.orgId,
  tab: z.enum(["usage", "purchases"]).optional(),
  types: z.array(transactionType).min(1).optional(),
  eventId: input.eventId.optional(),
  from: z.date().optional(),
  to: z.date().optional(),
  limit: z.number().int().min(1).max(500).default(50),
  /** The nextCursor of the previous page. */
  cursor: z.string().regex(/^[1-9][0-9]{0,18}$/, { error: "must be a cursor returned by a previous page" })
    .refine((cursor) => BigInt(cursor) <= 9_223_372_036_854_775_807n, { error: "must be a cursor returned by a previous page" }).optional(),
});
export type ListTransactionsInput = z.input<typeof listTransactionsInput>;

export interface TransactionView {
  id: string;
  type: z.output<typeof transactionType>;
  usageType: input.UsageType | null;
  credits: number;
  eventId: number | null;
  eventName: string | null;
  userId: string | null;
  /** "System" when no user did it. */
  actor: string;
  balanceAfter: number;
  reference: string | null;
  refundOfId: string | null;
  createdAt: Date;
}

/**
 * Newest first, keyset-paginated on the transaction id, so a page never
 * repeats or skips rows when new transactions arrive between pages.
 */
export async function listTransactions(
  db: Database,
  request: ListTransactionsInput,
): Promise<{ items: TransactionView[]; nextCursor: string | null }> {
  const query = parseInput(listTransactionsInput, request, "transaction query");
  const tabTypes = query.tab ? transactionTabs[query.tab] : undefined;
  const types = query.types && tabTypes ? query.types.filter((t) => (tabTypes as readonly string[]).includes(t)) : (query.types ?? tabTypes);
  const onlyAdditions = types !== undefined && !(types as readonly string[]).includes("USAGE");
  // Plain SQL, one statement: the API's second-busiest read. Only the filters
  // asked for go in, planned for their values each time (a generic plan can
  // walk the whole primary key for a small org). "type <> 'USAGE'" lets the
  // Purchase History tab use its partial index instead of walking past every
  // usage row.
  const values: unknown[] = [query.orgId];
  const where = ["t.org_id = $1"];
  const filter = (condition: (parameter: string) => string, value?: unknown) => {
    if (value !== undefined) values.push(value);
    where.push(condition(`$${values.length}`));
  };
  if (types) filter((p) => `t.type = ANY (${p}::credit_transaction_type[])`, [...types]);
  if (onlyAdditions) filter(() => "t.type <> 'USAGE'");
  if (query.eventId !== undefined) filter((p) => `t.event_id = ${p}`, query.eventId);
  if (query.from) filter((p) => `t.created_at >= ${p}`, query.from);
  if (query.to) filter((p) => `t.created_at < ${p}`, query.to);
  if (query.cursor) filter((p) => `t.id < ${p}::bigint`, query.cursor);
  values.push(query.limit + 1);
  const { rows } = await db.pool.query<{
    id: string; type: TransactionView["type"]; usage_type: input.UsageType | null; credits: number; event_id: number | null;
    event_name: string | null; user_id: string | null; user_name: string | null; balance_after: string; reference: string | null;
    refund_of_id: string | null; created_at: Date;
  }>({
    text: `SELECT t.id::text, t.type, t.usage_type, t.credits, t.event_id, e.name AS event_name, t.user_id, u.name AS user_name,
                  t.balance_after, t.reference, t.refund_of_id::text, t.created_at
           FROM credit_transaction t
           LEFT JOIN event e ON e.id = t.event_id
           LEFT JOIN app_user u ON u.id = t.user_id
           WHERE ${where.join(" AND ")}
           ORDER BY t.id DESC
           LIMIT $${values.length}`,
    values,
  });
  const page = rows.slice(0, query.limit);
  return {
    items: page.map((row) => ({
      id: row.id,
      type: row.type,
      usageType: row.usage_type,
      credits: row.credits,
      eventId: row.event_id,
      eventName: row.event_name,
      userId: row.user_id,
      actor: row.user_name ?? "System",
      balanceAfter: toCredits(row.balance_after),
      reference: row.reference,
      refundOfId: row.refund_of_id,
      createdAt: row.created_at,
    })),
    nextCursor: rows.length > query.limit ? page[page.length - 1]!.id : null,
  };
}
