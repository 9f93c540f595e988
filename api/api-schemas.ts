import { z } from "zod";
import { errorCatalogue } from "../core/errors.js";
import { orgId, reservedKeyRule } from "../ledger/ledger-inputs.js";

export const orgParams = z.strictObject({ orgId });

export const errorResponse = z.object({
  error: z.object({
    code: z.enum(Object.keys(errorCatalogue) as [keyof typeof errorCatalogue, ...(keyof typeof errorCatalogue)[]]),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
}).meta({ id: "Error" });

/** The error responses every authenticated route can give. */
export const commonErrors = { 401: errorResponse, 403: errorResponse, 404: errorResponse, 422: errorResponse, 429: errorResponse };

export const instant = z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time, e.g. 2026-11-01T00:00:00Z" })
  .transform((value) => new Date(value));

export const pageLimit = z.coerce.number({ error: "must be a number" }).int({ error: "must be a whole number" })
  .min(1, { error: "must be at least 1" }).max(500, { error: "must be at most 500" }).default(50);

export const idempotencyHeaders = z.object({
  "idempotency-key": z.string({ error: "is required: one key per intended operation, reused on retry" })
    .min(1, { error: "must not be empty" }).max(200, { error: "must be at most 200 characters" })
    .refine(reservedKeyRule.test, { error: reservedKeyRule.error }),
});

export const iso = (at: Date) => at.toISOString();
