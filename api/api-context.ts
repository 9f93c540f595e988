import type { FastifyRequest } from "fastify";
import type { Logger } from "../core/logger.js";
import type { Config } from "../core/config.js";
import { AppError } from "../core/errors.js";
import type { Database } from "../prisma/database.js";
import type { PaymentProvider } from "../payments/payment-provider.js";
import type { Seller } from "../reports/render-invoice.js";
import type { Principal } from "./principal.js";

/** What the routes need; the entry point (or a test) builds it. */
export interface ApiDependencies {
  db: Database;
  logger: Logger;
  provider: PaymentProvider;
  seller: Seller;
  config: Pick<Config,
    "PURCHASE_MIN_CREDITS" | "PURCHASE_MAX_CREDITS" | "TAX_RATE" | "PAYMENT_STUCK_AFTER_MS" | "PAYMENT_MAX_PENDING_CHECKS" |
    "API_RATE_LIMIT_PER_MINUTE" | "API_FAILED_LOGINS_PER_MINUTE" | "API_TOKEN_CACHE_MS" | "API_BODY_LIMIT_BYTES">;
}

declare module "fastify" {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AppError("UNAUTHENTICATED", "an API token is required: Authorization: Bearer <token>");
  return request.principal;
}
