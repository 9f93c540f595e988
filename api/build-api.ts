import { randomUUID } from "node:crypto";
import fastifyRateLimit from "@fastify/rate-limit";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Queue } from "bullmq";
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from "fastify";
import {
  createJsonSchemaTransform, hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler, type ZodTypeProvider,
} from "fastify-type-provider-zod";
import type { Redis } from "ioredis";
import { z } from "zod";
import { AppError, errorCatalogue, isAppError } from "../core/errors.js";
import { can, requirePermission } from "./access.js";
import { principalOf, type ApiDependencies } from "./api-context.js";
import { createApiMetrics } from "./api-metrics.js";
import { hashApiToken } from "./api-tokens.js";
import { authenticate, tokenOf } from "./authenticate.js";
import { billingRoutes } from "./billing-routes.js";
import { creditsRoutes } from "./credits-routes.js";
import { PrincipalDirectory } from "./principal.js";
import { staffRoutes } from "./staff-routes.js";
import { transactionRoutes } from "./transaction-routes.js";

export const queueDashboardPath = "/v1/staff/queues";

/**
 * The HTTP API: /v1 (token required), /health (open), /metrics (staff),
 * /docs (OpenAPI). Every error is JSON: { error: { code, message, details? } }.
 */
export async function buildApi(deps: ApiDependencies & { redis: Redis; queues: Queue[]; rateLimitPrefix: string }) {
  const app = Fastify({
    loggerInstance: deps.logger,
    bodyLimit: deps.config.API_BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest("principal", null);
  const directory = new PrincipalDirectory(deps.db, deps.config.API_TOKEN_CACHE_MS);
  const metrics = createApiMetrics({ db: deps.db, queues: deps.queues });

  // Each unknown token has a rate-limit budget of its own, so guesses are also counted per address.
  const failedLoginsPerMinute = deps.config.API_FAILED_LOGINS_PER_MINUTE;
  const tooManyFailedLogins = async (address: string): Promise<boolean> => {
    const key = `${deps.rateLimitPrefix}:api-failed-logins:${address}`;
    try {
      const [[, count]] = (await deps.redis.multi().incr(key).expire(key, 60, "NX").exec()) as [[unknown, number]];
      return count > failedLoginsPerMinute;
    } catch {
      return false;
    }
  };
  const sendError = (error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = errorReply(error);
    if (status >= 500) request.log.error({ err: error }, "request failed");
    if (status === 401 && request.url.startsWith(queueDashboardPath)) reply.header("www-authenticate", 'Basic realm="credits staff", charset="UTF-8"');
    return reply.code(status).send(body);
  };
  app.setErrorHandler(sendError);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: "NOT_FOUND", message: `no route ${request.method} ${request.url.split("?")[0]}` } }));
  app.addHook("onResponse", async (request, reply) => {
    metrics.requestDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? "unknown", status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: "Credits API", version: "1.0.0", description: "Credits, usage, purchases, invoices and rechecks of the photo-processing platform." },
      components: { securitySchemes: { token: { type: "http", scheme: "bearer" } } },
      security: [{ token: [] }],
    },
    transform: createJsonSchemaTransform({ skipList: ["/docs", "/docs/*", `${queueDashboardPath}`, `${queueDashboardPath}/*`] }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });

  await app.register(fastifyRateLimit, {
    max: deps.config.API_RATE_LIMIT_PER_MINUTE,
    timeWindow: 60_000,
    redis: deps.redis,
    // Redis down must not take the API down with it: requests go unlimited until it is back.
    skipOnError: true,
    nameSpace: `${deps.rateLimitPrefix}:api-rate:`,
    // Per token, however it is presented (hashed, so no token sits in Redis); without one, per address.
    keyGenerator: (request) => {
      const token = tokenOf(request, { basic: request.url.startsWith(queueDashboardPath) });
      return token ? hashApiToken(token) : `address:${request.ip}`;
    },
    allowList: (request) => request.url.startsWith("/health"),
    errorResponseBuilder: (_request, context) =>
      new AppError("RATE_LIMITED", `rate limit of ${context.max} requests per minute reached; retry in ${Math.ceil(context.ttl / 1000)} s`),
  });

  app.get("/health/live", { schema: { hide: true } }, async () => ({ status: "live" }));
  app.get("/health/ready", { schema: { hide: true } }, async (_request, reply) => {
    const checks = await Promise.all([
      check(() => deps.db.pool.query("SELECT 1")),
      check(() => deps.redis.ping()),
    ]);
    const ready = checks.every((c) => c === "ok");
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", checks: { postgres: checks[0], redis: checks[1] } });
  });
  app.get("/metrics", { schema: { hide: true } }, async (request, reply) => {
    request.principal = await authenticate(directory, request);
    requirePermission(principalOf(request), "staff");
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  await app.register(async (v1) => {
    // Hooks answer refusals themselves: the queue dashboard's routes have an error handler of their own.
    v1.addHook("onRequest", async (request, reply) => {
      request.principal = await authenticate(directory, request, { basic: request.url.startsWith(queueDashboardPath) });
      if (!request.principal) {
        if (request.headers.authorization && await tooManyFailedLogins(request.ip)) {
          return sendError(new AppError("RATE_LIMITED", `more than ${failedLoginsPerMinute} unknown tokens a minute from this address; retry in a minute`), request, reply);
        }
        return sendError(new AppError("UNAUTHENTICATED", request.headers.authorization
          ? "the API token is unknown or revoked"
          : "an API token is required: Authorization: Bearer <token>"), request, reply);
      }
    });
    v1.get("/me", {
      schema: {
        summary: "Who the token belongs to",
        tags: ["access"],
        response: { 200: z.object({ role: z.enum(["ADMIN", "OPERATOR", "STAFF"]), name: z.string(), orgId: z.string().nullable(), tokenId: z.string() }) },
      },
    }, async (request) => {
      const principal = principalOf(request);
      return { role: principal.role, name: principal.name, orgId: principal.role === "STAFF" ? null : principal.orgId, tokenId: principal.tokenId };
    });
    await v1.register(creditsRoutes, { deps });
    await v1.register(transactionRoutes, { deps });
    await v1.register(billingRoutes, { deps });
    await v1.register(staffRoutes, { deps });
    await v1.register(async (board) => {
      board.addHook("onRequest", async (request, reply) => {
        if (!can(principalOf(request), "staff")) return sendError(new AppError("PERMISSION_DENIED", "only the platform's staff can see the queues"), request, reply);
      });
      const adapter = new FastifyAdapter();
      createBullBoard({ queues: deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: false })), serverAdapter: adapter });
      adapter.setBasePath(queueDashboardPath);
      await board.register(adapter.registerPlugin(), { prefix: "/staff/queues" });
    });
  }, { prefix: "/v1" });

  return app;
}

async function check(probe: () => Promise<unknown>): Promise<string> {
  try {
    await Promise.race([probe(), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out after 1 s")), 1_000).unref())]);
    return "ok";
  } catch (error) {
    return (error as Error).message || "failed";
  }
}

function errorReply(error: FastifyError | AppError): { status: number; body: { error: { code: string; message: string; details?: Record<string, unknown> } } } {
  if (isAppError(error)) {
    const details = Object.keys(error.details).length > 0 ? { details: { ...error.details } } : {};
    return { status: errorCatalogue[error.code].httpStatus, body: { error: { code: error.code, message: error.message, ...details } } };
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = error.validationContext ?? "request";
    const issues = error.validation.map((issue) => ({
      path: [where, ...issue.instancePath.split("/").filter(Boolean)].join("."),
      message: issue.message,
    }));
    return {
      status: 422,
      body: { error: { code: "INVALID_INPUT", message: `invalid request: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, details: { issues } } },
    };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return { status: 413, body: { error: { code: "BODY_TOO_LARGE", message: fastifyError.message } } };
  }
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return { status: fastifyError.statusCode, body: { error: { code: "MALFORMED_REQUEST", message: fastifyError.message } } };
  }
  return { status: 500, body: { error: { code: "INTERNAL", message: "the request failed; it has been logged" } } };
}
