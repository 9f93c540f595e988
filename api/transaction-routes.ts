import { pipeline, Readable } from "node:stream";
import { stringify } from "csv-stringify";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../core/errors.js";
import { listTransactions, type TransactionView } from "../ledger/index.js";
import { listTransactionsInput } from "../ledger/list-transactions.js";
import type { Database } from "../prisma/database.js";
import { authoriseOnOrg } from "./access.js";
import type { ApiDependencies } from "./api-context.js";
import { commonErrors, instant, iso, orgParams, pageLimit } from "./api-schemas.js";

const transactionTypes = ["USAGE", "PURCHASE", "ADMIN_GRANT", "FREE_CREDITS", "REFUND"] as const;

const filters = {
  tab: z.enum(["usage", "purchases"], { error: "must be usage or purchases" }).optional(),
  type: z.string().optional()
    .transform((value, context) => {
      if (value === undefined) return undefined;
      const types = value.split(",");
      const unknown = types.filter((t) => !(transactionTypes as readonly string[]).includes(t));
      if (unknown.length > 0 || types.length === 0) {
        context.addIssue({ code: "custom", message: `must be a comma-separated list of ${transactionTypes.join(", ")}` });
        return z.NEVER;
      }
      return types as (typeof transactionTypes)[number][];
    }),
  eventId: z.coerce.number({ error: "must be a numeric event id" }).int({ error: "must be a whole number" })
    .positive({ error: "must be a positive event id" }).max(2_147_483_647, { error: "is out of range" }).optional(),
  from: instant.optional(),
  to: instant.optional(),
};

const transaction = z.object({
  id: z.string(),
  type: z.enum(transactionTypes),
  usageType: z.enum(["PHOTO_PROCESSING", "AI_IMAGE_ROTATION"]).nullable(),
  credits: z.number().int(),
  balanceAfter: z.number().int(),
  eventId: z.number().int().nullable(),
  eventName: z.string().nullable(),
  userId: z.string().nullable(),
  /** The user's name, or "System". */
  actor: z.string(),
  reference: z.string().nullable(),
  refundOfId: z.string().nullable(),
  createdAt: z.string(),
}).meta({ id: "Transaction" });

type Filters = { tab?: "usage" | "purchases"; type?: (typeof transactionTypes)[number][]; eventId?: number; from?: Date; to?: Date };

async function checkFilters(db: Database, orgId: string, query: Filters): Promise<void> {
  if (query.eventId === undefined) return;
  // Another org's event answers as one that does not exist.
  const { rowCount } = await db.pool.query("SELECT 1 FROM event WHERE org_id = $1 AND id = $2", [orgId, query.eventId]);
  if (rowCount === 0) throw new AppError("EVENT_NOT_FOUND", `event ${query.eventId} not found`);
}

const toLedgerQuery = (orgId: string, query: Filters) =>
  ({ orgId, tab: query.tab, types: query.type, eventId: query.eventId, from: query.from, to: query.to });

const view = (row: TransactionView) => ({ ...row, createdAt: iso(row.createdAt) });

/** The Usage and Purchase History tabs, and their CSV export. */
export const transactionRoutes: FastifyPluginAsyncZod<{ deps: ApiDependencies }> = async (app, { deps }) => {
  const { db } = deps;

  app.get("/orgs/:orgId/transactions", {
    schema: {
      summary: "Ledger rows, newest first, keyset-paginated (tab=usage: Usage; tab=purchases: Purchase History)",
      tags: ["transactions"],
      params: orgParams,
      querystring: z.strictObject({
        ...filters,
        limit: pageLimit,
        cursor: listTransactionsInput.shape.cursor,
      }),
      response: { 200: z.object({ items: z.array(transaction), nextCursor: z.string().nullable() }), ...commonErrors },
    },
  }, async (request) => {
    const { orgId } = request.params;
    await authoriseOnOrg(db, request, orgId, "credits:read");
    await checkFilters(db, orgId, request.query);
    const page = await listTransactions(db, { ...toLedgerQuery(orgId, request.query), limit: request.query.limit, cursor: request.query.cursor });
    return { items: page.items.map(view), nextCursor: page.nextCursor };
  });

  app.get("/orgs/:orgId/transactions.csv", {
    schema: {
      summary: "The same rows as CSV, every page, streamed",
      tags: ["transactions"],
      params: orgParams,
      querystring: z.strictObject(filters),
      produces: ["text/csv"],
    },
  }, async (request, reply) => {
    const { orgId } = request.params;
    await authoriseOnOrg(db, request, orgId, "credits:read");
    await checkFilters(db, orgId, request.query);
    const query = toLedgerQuery(orgId, request.query);
    async function* rows() {
      let cursor: string | undefined;
      do {
        const page = await listTransactions(db, { ...query, limit: 500, cursor });
        for (const row of page.items) {
          yield [row.id, iso(row.createdAt), row.type, row.usageType ?? "", row.credits, row.balanceAfter,
            row.eventId ?? "", spreadsheetSafe(row.eventName ?? ""), spreadsheetSafe(row.actor), spreadsheetSafe(row.reference ?? "")];
        }
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
    }
    const csv = stringify({
      header: true,
      columns: ["id", "created_at", "type", "usage_type", "credits", "balance_after", "event_id", "event_name", "actor", "reference"],
    });
    // A query failing mid-export destroys the response (the client sees a cut download), never the process.
    pipeline(Readable.from(rows()), csv, (error) => {
      if (error) request.log.error({ err: error, orgId }, "CSV export failed part-way");
    });
    return reply
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="transactions-${orgId}.csv"`)
      .send(csv);
  });
};

/** A cell a spreadsheet would run as a formula gets a leading apostrophe (names come from users). */
function spreadsheetSafe(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}
