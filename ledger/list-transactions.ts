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
  cursor: z.string().regex(/^[1-9][0-9]{0,18}$/, { error: "must be a cursor returned by a previous page" }).optional(),
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
  const rows = await db.prisma.creditTransaction.findMany({
    where: {
      orgId: query.orgId,
      ...(types ? { type: { in: [...types] } } : {}),
      ...(query.eventId !== undefined ? { eventId: query.eventId } : {}),
      ...(query.from || query.to ? { createdAt: { ...(query.from ? { gte: query.from } : {}), ...(query.to ? { lt: query.to } : {}) } } : {}),
      ...(query.cursor ? { id: { lt: BigInt(query.cursor) } } : {}),
    },
    orderBy: { id: "desc" },
    take: query.limit + 1,
    include: { event: { select: { name: true } }, user: { select: { name: true } } },
  });
  const page = rows.slice(0, query.limit);
  return {
    items: page.map((row) => ({
      id: row.id.toString(),
      type: row.type,
      usageType: row.usageType,
      credits: row.credits,
      eventId: row.eventId,
      eventName: row.event?.name ?? null,
      userId: row.userId,
      actor: row.user?.name ?? "System",
      balanceAfter: toCredits(row.balanceAfter),
      reference: row.reference,
      refundOfId: row.refundOfId?.toString() ?? null,
      createdAt: row.createdAt,
    })),
    nextCursor: rows.length > query.limit ? page[page.length - 1]!.id.toString() : null,
  };
}
