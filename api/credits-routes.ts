import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../core/errors.js";
import { monthlySummary, usageByEvent } from "../ledger/index.js";
import { trimDecimal } from "../payments/money.js";
import { authoriseOnOrg } from "./access.js";
import type { ApiDependencies } from "./api-context.js";
import { commonErrors, instant, iso, orgParams } from "./api-schemas.js";

const credits = z.object({
  availableCredits: z.number().int(),
  balanceCredits: z.number().int(),
  reservedCredits: z.number().int(),
  processingState: z.enum(["active", "paused"]),
  /** Only with ?include=costPerCredit, and never for custom billing. */
  costPerCredit: z.object({ amount: z.string(), currency: z.string() }).optional(),
  customBilling: z.boolean(),
}).meta({ id: "Credits" });

const monthSummary = z.object({
  month: z.string(), startsAt: z.string(), endsAt: z.string(), creditsUsed: z.number().int(), creditsAdded: z.number().int(),
  netCredits: z.number().int(), usageTransactionCount: z.number().int(), current: z.boolean(),
}).meta({ id: "MonthSummary" });

const eventUsage = z.object({
  eventId: z.number().int(), eventName: z.string(), creditsUsed: z.number().int(), creditsRefunded: z.number().int(), runs: z.number().int(),
}).meta({ id: "EventUsage" });

/** The Credits page: balance, monthly cards, usage by event, subscription. */
export const creditsRoutes: FastifyPluginAsyncZod<{ deps: ApiDependencies }> = async (app, { deps }) => {
  const { db } = deps;

  app.get("/orgs/:orgId/credits", {
    schema: {
      summary: "Available balance, reserved credits and processing state; cost per credit on request",
      tags: ["credits"],
      params: orgParams,
      querystring: z.strictObject({ include: z.literal("costPerCredit", { error: "must be costPerCredit" }).optional() }),
      response: { 200: credits, ...commonErrors },
    },
  }, async (request) => {
    await authoriseOnOrg(db, request, request.params.orgId, "credits:read");
    // One named statement (parsed and planned once per connection): the page's busiest call.
    const { rows } = await db.pool.query<{
      balance_credits: string; reserved_credits: string; processing_state: "ACTIVE" | "PAUSED"; cost_per_credit: string | null; currency: string;
    }>({
      name: "api-credits",
      text: "SELECT balance_credits, reserved_credits, processing_state, cost_per_credit::text, currency FROM organisation WHERE id = $1",
      values: [request.params.orgId],
    });
    const org = rows[0];
    if (!org) throw new AppError("ORG_NOT_FOUND", `organisation ${request.params.orgId} not found`);
    const balanceCredits = Number(org.balance_credits);
    const reservedCredits = Number(org.reserved_credits);
    return {
      availableCredits: balanceCredits - reservedCredits,
      balanceCredits,
      reservedCredits,
      processingState: org.processing_state === "PAUSED" ? "paused" as const : "active" as const,
      ...(request.query.include === "costPerCredit" && org.cost_per_credit !== null
        ? { costPerCredit: { amount: trimDecimal(org.cost_per_credit), currency: org.currency } } : {}),
      customBilling: org.cost_per_credit === null,
    };
  });

  app.get("/orgs/:orgId/usage/monthly", {
    schema: {
      summary: "The current month and the three before it, in the org's time zone",
      tags: ["credits"],
      params: orgParams,
      querystring: z.strictObject({}),
      response: { 200: z.object({ months: z.array(monthSummary) }), ...commonErrors },
    },
  }, async (request) => {
    await authoriseOnOrg(db, request, request.params.orgId, "credits:read");
    const months = await monthlySummary(db, { orgId: request.params.orgId });
    return { months: months.map((m) => ({ ...m, startsAt: iso(m.startsAt), endsAt: iso(m.endsAt) })) };
  });

  app.get("/orgs/:orgId/usage/events", {
    schema: {
      summary: "Credits and runs per event, largest first",
      tags: ["credits"],
      params: orgParams,
      querystring: z.strictObject({ from: instant.optional(), to: instant.optional() }),
      response: { 200: z.object({ events: z.array(eventUsage) }), ...commonErrors },
    },
  }, async (request) => {
    await authoriseOnOrg(db, request, request.params.orgId, "credits:read");
    return { events: await usageByEvent(db, { orgId: request.params.orgId, from: request.query.from, to: request.query.to }) };
  });

  app.get("/orgs/:orgId/subscription", {
    schema: {
      summary: "The org's plan",
      tags: ["credits"],
      params: orgParams,
      response: {
        200: z.object({ plan: z.literal("PAY_AS_YOU_GO"), name: z.string(), description: z.string(), expiresAt: z.null(), customBilling: z.boolean() }),
        ...commonErrors,
      },
    },
  }, async (request) => {
    await authoriseOnOrg(db, request, request.params.orgId, "credits:read");
    const { rows } = await db.pool.query<{ custom: boolean }>("SELECT cost_per_credit IS NULL AS custom FROM organisation WHERE id = $1", [request.params.orgId]);
    if (!rows[0]) throw new AppError("ORG_NOT_FOUND", `organisation ${request.params.orgId} not found`);
    return {
      plan: "PAY_AS_YOU_GO" as const,
      name: "Pay As You Go",
      description: "Prepaid credits shared by all events: 1 credit per photo processed (Photo Processing or AI Image Rotation). Credits never expire.",
      expiresAt: null,
      customBilling: rows[0].custom,
    };
  });
};
