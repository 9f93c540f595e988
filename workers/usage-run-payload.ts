import { z } from "zod";
import { eventId, orgId, usageType } from "../ledger/ledger-inputs.js";

export const maxPhotosPerRun = 10_000;

const photoIds = z
  .array(z.string({ error: "must be a string" }).min(1, { error: "must not be empty" }).max(200, { error: "must be at most 200 characters" }), {
    error: "must be a list of photo ids",
  })
  .min(1, { error: "must name at least one photo" })
  .max(maxPhotosPerRun, { error: `must name at most ${maxPhotosPerRun.toLocaleString("en")} photos` })
  .superRefine((ids, context) => {
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) {
        context.addIssue({ code: "custom", message: `must not repeat a photo id ("${id}" appears twice)` });
        return;
      }
      seen.add(id);
    }
  });

/** One processing run of one kind: what a producer enqueues and a worker meters. */
export const usageRunPayload = z.strictObject({
  orgId,
  eventId,
  kind: usageType,
  photoIds,
  /** Null: the System started the run. */
  userId: z.uuid({ error: "must be a user id (UUID) or null for System" }).nullable(),
  runId: z.string({ error: "must be a string" }).regex(/^[A-Za-z0-9_-]{1,100}$/, { error: "must be 1 to 100 letters, digits, _ or -" }),
});

export type UsageRunPayload = z.output<typeof usageRunPayload>;
