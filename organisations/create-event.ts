import { z } from "zod";
import { parseInput } from "../core/validation.js";
import type { Database } from "../prisma/database.js";
import { orgId } from "../ledger/ledger-inputs.js";

export const createEventInput = z.strictObject({
  orgId,
  name: z.string().trim().min(1, { error: "must not be empty" }).max(300),
});

export async function createEvent(db: Database, request: z.input<typeof createEventInput>) {
  const event = parseInput(createEventInput, request, "event");
  return db.prisma.event.create({ data: event });
}
