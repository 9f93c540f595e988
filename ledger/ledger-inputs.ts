import { z } from "zod";

/** No single ledger operation moves more credits than this; larger is a mistake, not a customer. */
export const maxCreditsPerOperation = 100_000_000;

const wholeCredits = z
  .number({ error: (issue) => (issue.input === undefined ? "is required" : "must be a finite number of credits") })
  .refine(Number.isInteger, { error: "must be a whole number of credits" })
  .refine((n) => n <= maxCreditsPerOperation, { error: `must be at most ${maxCreditsPerOperation.toLocaleString("en")}` });

export const positiveCredits = wholeCredits.refine((n) => n > 0, { error: "must be greater than 0" });
export const creditsNotNegative = wholeCredits.refine((n) => n >= 0, { error: "must not be negative" });

export const orgId = z.uuid({ error: "must be an organisation id (UUID)" });
export const userId = z.uuid({ error: "must be a user id (UUID)" }).nullish().transform((v) => v ?? null);
export const eventId = z
  .number({ error: "must be a numeric event id" })
  .int({ error: "must be a whole number" })
  .positive({ error: "must be a positive event id" })
  .max(2_147_483_647, { error: "is out of range" });
export const idempotencyKey = z
  .string({ error: "must be a string" })
  .min(1, { error: "must not be empty" })
  .max(200, { error: "must be at most 200 characters" });

/**
 * Keys of credit additions and refunds. "capture:" keys Usage transactions and
 * "payment:" a settled purchase: a caller's key in either space could take a
 * key the ledger itself needs later.
 */
export const reservedKeyRule = {
  test: (key: string) => !key.startsWith("capture:") && !key.startsWith("payment:"),
  error: 'must not start with "capture:" or "payment:" (reserved for usage and settled purchases)',
};
export const transactionKey = idempotencyKey.refine(reservedKeyRule.test, { error: reservedKeyRule.error });
export const reference = z.string().max(500, { error: "must be at most 500 characters" }).nullish().transform((v) => v ?? null);
export const transactionId = z
  .union([z.string().regex(/^[1-9][0-9]{0,18}$/), z.bigint().positive()], { error: "must be a transaction id" })
  .transform(String);

export const additionType = z.enum(["PURCHASE", "ADMIN_GRANT", "FREE_CREDITS"], {
  error: "must be one of PURCHASE, ADMIN_GRANT, FREE_CREDITS",
});
const maxPhotosPerRun = 10_000;
const maxPhotoIdLength = 200;

/**
 * Photo ids: at most 10,000 distinct, non-empty strings of at most 200
 * characters (at least one for a run), checked in one pass over the list
 * rather than by a schema per id. A run's photos are checked at the producer,
 * in the worker and at each capture, and per-id checks were the largest part
 * of that.
 */
export function photoIdList(options: { atLeastOne: boolean }) {
  return z
    .array(z.string({ error: "must be a string" }), { error: "must be a list of photo ids" })
    .min(options.atLeastOne ? 1 : 0, { error: "must name at least one photo" })
    .max(maxPhotosPerRun, { error: `must name at most ${maxPhotosPerRun.toLocaleString("en")} photos` })
    .check((payload) => {
      const ids = payload.value;
      const seen = new Set<string>();
      for (let index = 0; index < ids.length; index++) {
        const id = ids[index]!;
        if (id.length === 0 || id.length > maxPhotoIdLength) {
          const message = id.length === 0 ? "must not be empty" : `must be at most ${maxPhotoIdLength} characters`;
          payload.issues.push({ code: "custom", message, input: id, path: [index] });
        } else if (seen.has(id)) {
          payload.issues.push({ code: "custom", message: `must not repeat a photo id ("${id}" appears twice)`, input: ids });
          return;
        } else {
          seen.add(id);
        }
      }
    });
}

export const usageType = z.enum(["PHOTO_PROCESSING", "AI_IMAGE_ROTATION"], {
  error: "must be PHOTO_PROCESSING or AI_IMAGE_ROTATION",
});
export type AdditionType = z.output<typeof additionType>;
export type UsageType = z.output<typeof usageType>;

/** What a replay must repeat exactly for the ledger to answer it with the first result. */
export function fingerprint(operation: string, ...values: unknown[]): string {
  return JSON.stringify([operation, ...values]);
}
