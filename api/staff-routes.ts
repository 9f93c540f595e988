import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { grantCredits, refundUsage } from "../ledger/index.js";
import { positiveCredits, transactionId } from "../ledger/ledger-inputs.js";
import { recheckPayments } from "../payments/recheck-payments.js";
import { authoriseOnOrg, requirePermission } from "./access.js";
import { principalOf, type ApiDependencies } from "./api-context.js";
import { commonErrors, errorResponse, idempotencyHeaders, orgParams } from "./api-schemas.js";
import { recheckRow, recheckRows } from "./billing-routes.js";

const reason = z.string({ error: "is required: say why" }).trim().min(1, { error: "must say why" }).max(400, { error: "must be at most 400 characters" });

const creditTransaction = z.object({ transactionId: z.string(), balanceAfter: z.number().int(), replayed: z.boolean() }).meta({ id: "CreditTransaction" });

/** The platform team's tools: credits given or given back, with a reason, and rechecks across orgs. */
export const staffRoutes: FastifyPluginAsyncZod<{ deps: ApiDependencies }> = async (app, { deps }) => {
  const { db } = deps;

  app.post("/staff/orgs/:orgId/grants", {
    schema: {
      summary: "Add an Admin Grant or Free Credits to an org, with a reason",
      tags: ["staff"],
      params: orgParams,
      headers: idempotencyHeaders,
      body: z.strictObject({
        type: z.enum(["ADMIN_GRANT", "FREE_CREDITS"], { error: "must be ADMIN_GRANT or FREE_CREDITS" }),
        credits: positiveCredits,
        reason,
      }),
      response: { 200: creditTransaction, 201: creditTransaction, 409: errorResponse, ...commonErrors },
    },
  }, async (request, reply) => {
    const principal = await authoriseOnOrg(db, request, request.params.orgId, "staff");
    const result = await grantCredits(db, {
      orgId: request.params.orgId, type: request.body.type, credits: request.body.credits,
      idempotencyKey: request.headers["idempotency-key"], userId: null,
      reference: `${request.body.reason} (staff: ${principal.name})`,
    });
    request.log.info({ orgId: request.params.orgId, transactionId: result.transactionId, type: request.body.type, credits: request.body.credits }, "staff added credits");
    return reply.code(result.replayed ? 200 : 201).send(result);
  });

  app.post("/staff/orgs/:orgId/refunds", {
    schema: {
      summary: "Give back credits of a Usage transaction, with a reason",
      tags: ["staff"],
      params: orgParams,
      headers: idempotencyHeaders,
      body: z.strictObject({ usageTransactionId: transactionId, credits: positiveCredits, reason }),
      response: { 200: creditTransaction, 201: creditTransaction, 409: errorResponse, ...commonErrors },
    },
  }, async (request, reply) => {
    const principal = await authoriseOnOrg(db, request, request.params.orgId, "staff");
    const result = await refundUsage(db, {
      orgId: request.params.orgId, usageTransactionId: request.body.usageTransactionId, credits: request.body.credits,
      idempotencyKey: request.headers["idempotency-key"], userId: null, reason: `${request.body.reason} (staff: ${principal.name})`,
    });
    request.log.info({ orgId: request.params.orgId, transactionId: result.transactionId, credits: request.body.credits }, "staff refunded usage");
    return reply.code(result.replayed ? 200 : 201).send(result);
  });

  app.post("/staff/payments/recheck", {
    schema: {
      summary: "Recheck every org's stuck payments (pending for too long) or those that need attention",
      tags: ["staff"],
      body: z.strictObject({ which: z.enum(["stuck", "needs-attention"], { error: "must be stuck or needs-attention" }) }),
      response: { 200: z.object({ rechecked: z.array(recheckRow) }), ...commonErrors },
    },
  }, async (request) => {
    requirePermission(principalOf(request), "staff");
    const selection = request.body.which === "stuck" ? { stuckAfterMs: deps.config.PAYMENT_STUCK_AFTER_MS } : { needsAttention: true as const };
    return recheckRows(await recheckPayments({ db, provider: deps.provider, logger: deps.logger.child({ requestId: request.id }) }, selection, { maxPendingChecks: deps.config.PAYMENT_MAX_PENDING_CHECKS }));
  });
};
