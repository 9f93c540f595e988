import { z } from "zod";
import { eventId, orgId, photoIdList, usageType } from "../ledger/ledger-inputs.js";

const photoIds = photoIdList({ atLeastOne: true });

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
